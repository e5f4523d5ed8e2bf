// Failed authentications (a bad or missing API key, a bad admin token, a refused WebSocket
// connection_init) are counted per client address: past AUTH_FAILURES_MAX in
// AUTH_FAILURES_WINDOW_MS a failure answers 429 instead of 401/403. Only failures are counted
// and refused, so good credentials behind the same NAT address as a guesser keep working.
// With REDIS_URL the counts are shared by every instance of the deployment (the instances of
// one database); in memory otherwise. While Redis does not answer, REDIS_DOWN_POLICY decides:
// counted in memory per instance (`local`), or every failure answers 503 (`refuse`).
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { gwError, isGatewayError, type GatewayError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Records a failed authentication from `address`: `err` itself, or a 429 once the address is past its limit. */
    authFailure: (address: string, err: GatewayError) => Promise<GatewayError>
  }
}

async function authThrottle (fastify: FastifyInstance): Promise<void> {
  const { AUTH_FAILURES_MAX: max, AUTH_FAILURES_WINDOW_MS: windowMs } = fastify.config
  // instances of one deployment share a database: its URL scopes the shared counters
  const counts = fastify.windowCounts(`ngw-af-${createHash('sha256').update(fastify.db.url).digest('hex').slice(0, 16)}-`)

  fastify.decorate('authFailure', async (address: string, err: GatewayError) => {
    let count: number, ttlMs: number
    try {
      ({ count, ttlMs } = await counts.add(address, windowMs))
    } catch (refused) {
      // Redis is away and REDIS_DOWN_POLICY=refuse: a failure that cannot be counted is not answered as one
      if (isGatewayError(refused)) return refused
      throw refused
    }
    if (count <= max) return err
    const wait = Math.max(1, Math.ceil(ttlMs / 1000))
    fastify.log.warn({ address, code: err.code }, 'failed authentications throttled')
    return gwError('GW_ERR_RATE_LIMITED', `Too many failed authentications from this address; try again in ${wait} s`, {
      headers: { 'retry-after': String(wait) },
      extensions: { retryAfter: wait }
    })
  })
}

export default fp(authThrottle, { name: 'auth-throttle', dependencies: ['db', 'redis'] })
