// Liveness says the process runs; readiness says it can serve: the database answers. The
// upstream is reported too (`checks.upstream`: ok | unreachable, probed at most every 10 s) but
// does not fail readiness: most routes (reads, event logs, downloads of finished work) serve
// without it, and a restart would not bring it back. Redis (with REDIS_URL) is reported the
// same way (`checks.redis`: ok | degraded | unreachable) and never fails readiness either: it
// is a cache and a fan-out, the instance serves without it and reconnects by itself.
// Load shedding (@fastify/under-pressure) answers 503 problem+json with Retry-After.
import fp from 'fastify-plugin'
import underPressure from '@fastify/under-pressure'
import type { FastifyInstance } from 'fastify'
import { Type } from 'typebox'
import { gwError } from '../errors.ts'
import type { RedisState } from './redis.ts'

const HealthSchema = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('unavailable')]),
  checks: Type.Optional(Type.Record(Type.String(), Type.String()))
})

const UPSTREAM_PROBE_MS = 10_000

async function health (fastify: FastifyInstance): Promise<void> {
  await fastify.register(underPressure, {
    maxEventLoopDelay: fastify.config.MAX_EVENT_LOOP_DELAY_MS,
    retryAfter: 10,
    customError: class extends Error {
      constructor () {
        super('The gateway is overloaded')
        return gwError('GW_ERR_UNAVAILABLE', 'The gateway is overloaded, retry later', { headers: { 'retry-after': '10' } })
      }
    }
  })

  fastify.get('/health/live', {
    schema: { tags: ['health'], operationId: 'checkLiveness', summary: 'Liveness: the process answers', response: { 200: HealthSchema } }
  }, async () => ({ status: 'ok' as const }))

  fastify.get('/health/ready', {
    schema: { tags: ['health'], operationId: 'checkReadiness', summary: 'Readiness: the database answers (the upstream is reported, not required)', response: { 200: HealthSchema } }
  }, async () => {
    const [database, redis, upstream] = await Promise.all([fastify.db.ping(), redisCheck(), upstreamCheck()])
    if (!database) throw gwError('GW_ERR_UNAVAILABLE', 'The database is not reachable')
    return { status: 'ok' as const, checks: { database: 'ok', ...(redis === undefined ? {} : { redis }), upstream } }
  })

  /**
   * undefined without REDIS_URL; `ok` when every Redis connection is up and Redis answers a
   * PING within 1 s (a stalled Redis keeps its connections), `degraded` when some are up.
   */
  async function redisCheck (): Promise<RedisState | undefined> {
    const { redis, redisLink: link } = fastify
    if (redis === null || link === null) return undefined
    const state = link.state
    if (state !== 'ok') return state
    const answers = await Promise.race([
      redis.ping().then(() => true, () => false),
      new Promise<boolean>((resolve) => setTimeout(resolve, 1000, false).unref())
    ])
    return answers ? 'ok' : 'unreachable'
  }

  let probed: { at: number, result: Promise<'ok' | 'unreachable'> } | undefined
  function upstreamCheck (): Promise<'ok' | 'unreachable'> {
    if (probed === undefined || Date.now() - probed.at > UPSTREAM_PROBE_MS) {
      probed = { at: Date.now(), result: fastify.nemo.reachable().then((ok) => ok ? 'ok' : 'unreachable') }
    }
    return probed.result
  }
}

export default fp(health, { name: 'health', dependencies: ['db', 'redis'] })
