// Redis, when REDIS_URL is set, is a cache and a fan-out, never the record: an instance keeps
// serving while it is gone, with what depends on it degraded, and reconnects by itself.
// This plugin holds the connection for the shared counters (rate limits, failed
// authentications) and the link's state across every Redis connection of the instance (the
// event fan-out in plugins/pubsub.ts keeps its own pair, watched here too): a warning when
// Redis goes away, one line when it is back, `checks.redis` in /health/ready and the
// `gateway.redis.up` gauge. `fastify.redis` and `fastify.redisLink` are null without REDIS_URL.
//
// Counting while Redis is away follows REDIS_DOWN_POLICY: `local` counts per instance (a
// deployment of N instances then allows up to N times the limit), `refuse` answers 503.
import fp from 'fastify-plugin'
import type { Redis, RedisOptions } from 'ioredis'
import { metrics, type ObservableResult } from '@opentelemetry/api'
import type { FastifyBaseLogger, FastifyInstance } from 'fastify'
import { gwError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
    redisLink: RedisLink | null
    /** Fixed-window counts under `prefix`: in Redis while it answers, else as REDIS_DOWN_POLICY says. */
    windowCounts: (prefix: string) => WindowCounts
  }
}

/** What every Redis connection of the gateway shares: short connects, and retries forever, at most 2 s apart. */
export const REDIS_CONNECTION: RedisOptions = {
  connectTimeout: 2000,
  retryStrategy: (attempt) => Math.min(attempt * 100, 2000),
  lazyConnect: false
}

/** A command Redis has not answered by then fails: a stalled Redis delays a request this long at most. */
const COMMAND_TIMEOUT_MS = 1000
/** Retry-After of a request refused while Redis is away (REDIS_DOWN_POLICY=refuse): about one reconnection attempt. */
const REFUSED_RETRY_AFTER_S = 2

export type RedisState = 'ok' | 'degraded' | 'unreachable'

/** The instance's Redis connections, by role: whether they are up, and a log line when that changes. */
class RedisLink {
  private readonly connections = new Map<string, Redis>()
  private downSince: number | undefined
  private closing = false

  constructor (private readonly log: FastifyBaseLogger, private readonly whileDown: string) {}

  watch (role: string, connection: Redis): void {
    this.connections.set(role, connection)
    connection.on('ready', () => this.changed())
    // a connection Redis closed, or every failed attempt to open one: the first of an outage is logged (below)
    connection.on('close', () => this.changed(role))
    connection.on('error', (err) => {
      this.log.debug({ err, connection: role }, 'redis connection error')
      this.changed(role, err)
    })
  }

  /** Every connection is ready. */
  get up (): boolean {
    for (const connection of this.connections.values()) if (connection.status !== 'ready') return false
    return this.connections.size > 0
  }

  get state (): RedisState {
    let ready = 0
    for (const connection of this.connections.values()) if (connection.status === 'ready') ready++
    return ready === this.connections.size ? 'ok' : ready === 0 ? 'unreachable' : 'degraded'
  }

  /** Whether each connection is ready, by role (the gauge). */
  roles (): Array<[string, boolean]> {
    return [...this.connections].map(([role, connection]) => [role, connection.status === 'ready'])
  }

  close (): void {
    this.closing = true
  }

  /** `role`: that connection closed or failed; none: one came up. */
  private changed (role?: string, err?: Error): void {
    if (this.closing) return
    if (this.downSince === undefined && role !== undefined) {
      this.downSince = Date.now()
      this.log.warn({ err, connection: role }, `Redis (REDIS_URL) is unreachable; serving without it, retrying in the background: ${this.whileDown}`)
    } else if (this.downSince !== undefined && this.up) {
      this.log.info({ downMs: Date.now() - this.downSince }, 'Redis is reachable again: shared counters and cross-instance events resumed')
      this.downSince = undefined
    }
  }
}

export interface Count { count: number, ttlMs: number }

const MAX_LOCAL_KEYS = 50_000

/** Fixed windows per key in this process; the oldest key goes first when full. */
class LocalCounts {
  private readonly byKey = new Map<string, { count: number, resetAt: number }>()

  add (key: string, windowMs: number): Count {
    const now = Date.now()
    let entry = this.byKey.get(key)
    if (entry === undefined || entry.resetAt <= now) {
      this.byKey.delete(key)
      if (this.byKey.size >= MAX_LOCAL_KEYS) this.byKey.delete(this.byKey.keys().next().value!)
      entry = { count: 0, resetAt: now + windowMs }
      this.byKey.set(key, entry)
    }
    entry.count++
    return { count: entry.count, ttlMs: entry.resetAt - now }
  }
}

// one round trip: the count, and the time left in the window (a key left without an expiry,
// by whatever wrote it, gets one)
const COUNT_IN_WINDOW = `
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 then
  redis.call('PEXPIRE', KEYS[1], ARGV[1])
  ttl = tonumber(ARGV[1])
end
return {n, ttl}`

type CountingRedis = Redis & { ngwCountInWindow: (key: string, windowMs: number) => Promise<[number, number]> }

export class WindowCounts {
  private readonly local = new LocalCounts()

  constructor (
    private readonly redis: CountingRedis | null,
    private readonly prefix: string,
    private readonly policy: 'local' | 'refuse',
    private readonly log: FastifyBaseLogger
  ) {}

  /** Adds one to `key`'s window (`windowMs` long from its first count) and says where it stands. */
  async add (key: string, windowMs: number): Promise<Count> {
    const redis = this.redis
    if (redis === null) return this.local.add(key, windowMs)
    // not connected: no wait for a connection that is not there (the link logs the outage)
    if (redis.status === 'ready') {
      try {
        const [count, ttlMs] = await redis.ngwCountInWindow(this.prefix + key, windowMs)
        return { count: Number(count), ttlMs: Number(ttlMs) > 0 ? Number(ttlMs) : windowMs }
      } catch (err) {
        this.log.debug({ err }, 'could not count in redis')
      }
    }
    if (this.policy === 'refuse') {
      throw gwError('GW_ERR_UNAVAILABLE', 'Requests cannot be counted while Redis is unreachable (REDIS_DOWN_POLICY=refuse); retry later', {
        headers: { 'retry-after': String(REFUSED_RETRY_AFTER_S) },
        extensions: { retryAfter: REFUSED_RETRY_AFTER_S }
      })
    }
    return this.local.add(key, windowMs)
  }
}

async function redisPlugin (fastify: FastifyInstance): Promise<void> {
  const { REDIS_URL: url, REDIS_DOWN_POLICY: policy } = fastify.config
  const log = fastify.log.child({ component: 'redis' })
  if (!url) {
    fastify.decorate('redis', null)
    fastify.decorate('redisLink', null)
    fastify.decorate('windowCounts', (prefix: string) => new WindowCounts(null, prefix, policy, log))
    return
  }
  const whileDown = 'events reach only this instance\'s followers, cache changes only this instance (the caches\' TTLs apply), ' +
    (policy === 'local' ? 'rate limits and failed authentications are counted per instance' : 'rate-limited requests and failed authentications answer 503 (REDIS_DOWN_POLICY=refuse)')
  const link = new RedisLink(log, whileDown)
  // loaded only when REDIS_URL is set: an instance without Redis does not carry its client
  const { Redis } = await import('ioredis')
  // offline: fail at once rather than queue (the counters fall back); a stalled Redis: after COMMAND_TIMEOUT_MS
  const redis = new Redis(url, { ...REDIS_CONNECTION, enableOfflineQueue: false, maxRetriesPerRequest: 1, commandTimeout: COMMAND_TIMEOUT_MS })
  redis.defineCommand('ngwCountInWindow', { numberOfKeys: 1, lua: COUNT_IN_WINDOW })
  link.watch('counters', redis)
  fastify.decorate('redis', redis)
  fastify.decorate('redisLink', link)
  fastify.decorate('windowCounts', (prefix: string) => new WindowCounts(redis as CountingRedis, prefix, policy, log))

  const gauge = metrics.getMeter('nemo-gateway').createObservableGauge('gateway.redis.up', {
    description: 'Whether each Redis connection (counters, events-publish, events-subscribe) is connected: 1 up, 0 down'
  })
  const observe = (result: ObservableResult) => {
    for (const [role, up] of link.roles()) result.observe(up ? 1 : 0, { connection: role })
  }
  gauge.addCallback(observe)

  fastify.addHook('onClose', async () => {
    gauge.removeCallback(observe)
    link.close()
    // offline, a quit is refused at once; stalled, it fails after COMMAND_TIMEOUT_MS
    await redis.quit().catch(() => redis.disconnect())
  })
}

export default fp(redisPlugin, { name: 'redis' })
