// Failed authentications (a bad or missing API key, a bad admin token, a refused WebSocket
// connection_init) are counted per client address: past AUTH_FAILURES_MAX in
// AUTH_FAILURES_WINDOW_MS a failure answers 429 instead of 401/403. Only failures are counted
// and refused, so good credentials behind the same NAT address as a guesser keep working.
// With REDIS_URL the counts are shared by every instance of the deployment (the instances of
// one database); in memory otherwise, or while Redis does not answer.
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { gwError, type GatewayError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** Records a failed authentication from `address`: `err` itself, or a 429 once the address is past its limit. */
    authFailure: (address: string, err: GatewayError) => Promise<GatewayError>
  }
}

const MAX_ADDRESSES = 50_000

interface Count { count: number, ttlMs: number }

/** Fixed windows per address in this process; the oldest address goes first when full. */
class LocalCounts {
  private readonly byAddress = new Map<string, { count: number, resetAt: number }>()

  constructor (private readonly windowMs: number) {}

  add (address: string): Count {
    const now = Date.now()
    let entry = this.byAddress.get(address)
    if (entry === undefined || entry.resetAt <= now) {
      this.byAddress.delete(address)
      if (this.byAddress.size >= MAX_ADDRESSES) this.byAddress.delete(this.byAddress.keys().next().value!)
      entry = { count: 0, resetAt: now + this.windowMs }
      this.byAddress.set(address, entry)
    }
    entry.count++
    return { count: entry.count, ttlMs: entry.resetAt - now }
  }
}

async function authThrottle (fastify: FastifyInstance): Promise<void> {
  const { AUTH_FAILURES_MAX: max, AUTH_FAILURES_WINDOW_MS: windowMs } = fastify.config
  const local = new LocalCounts(windowMs)
  const redis = fastify.redis ?? undefined
  // instances of one deployment share a database: its URL scopes the shared counters
  const prefix = `ngw-af-${createHash('sha256').update(fastify.db.url).digest('hex').slice(0, 16)}-`

  async function add (address: string): Promise<Count> {
    if (redis === undefined) return local.add(address)
    try {
      const key = prefix + address
      const res = await redis.multi().set(key, '0', 'PX', windowMs, 'NX').incr(key).pttl(key).exec()
      const count = Number(res?.[1]?.[1])
      const ttlMs = Number(res?.[2]?.[1])
      if (!Number.isFinite(count) || !Number.isFinite(ttlMs)) throw new Error('unexpected answer from redis')
      return { count, ttlMs: ttlMs > 0 ? ttlMs : windowMs }
    } catch (err) {
      fastify.log.warn({ err }, 'auth throttle: redis unavailable, counting in memory')
      return local.add(address)
    }
  }

  fastify.decorate('authFailure', async (address: string, err: GatewayError) => {
    const { count, ttlMs } = await add(address)
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
