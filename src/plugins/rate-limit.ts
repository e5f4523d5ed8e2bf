// Per-API-key request limits on the tenant surface, with the IETF draft headers
// (RateLimit-Limit/-Remaining/-Reset, Retry-After). Counters live in Redis when REDIS_URL is
// set, so every instance enforces the same budget; in memory otherwise. While Redis does not
// answer, REDIS_DOWN_POLICY decides: per-instance counts (`local`) or 503 (`refuse`); see
// plugins/redis.ts.
import fp from 'fastify-plugin'
import rateLimit, { type FastifyRateLimitStore } from '@fastify/rate-limit'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { gwError } from '../errors.ts'
import type { WindowCounts } from './redis.ts'

// Decided by the route the router matched, never by the raw URL: the router decodes
// percent-escapes (`/%761/credits` is `/v1/credits`), a prefix test on `request.url` does not.
function limited (request: FastifyRequest): boolean {
  const route = request.routeOptions.url
  return route !== undefined && (route.startsWith('/v1/') || route === '/graphql')
}

async function rateLimitPlugin (fastify: FastifyInstance): Promise<void> {
  const { RATE_LIMIT_MAX, RATE_LIMIT_WINDOW_MS } = fastify.config
  const counts = fastify.windowCounts('ngw-rl-')
  // the window as configured ("60 seconds"), not the time left in it
  const window = RATE_LIMIT_WINDOW_MS % 1000 === 0 ? `${RATE_LIMIT_WINDOW_MS / 1000} seconds` : `${RATE_LIMIT_WINDOW_MS} ms`
  await fastify.register(rateLimit, {
    global: true,
    // after authentication, so the limit belongs to the API key, not to a shared NAT address
    hook: 'preHandler',
    max: RATE_LIMIT_MAX,
    timeWindow: RATE_LIMIT_WINDOW_MS,
    enableDraftSpec: true,
    store: storeOf(counts),
    // the store never fails but to refuse (REDIS_DOWN_POLICY=refuse): that error is the answer
    skipOnError: false,
    allowList: (request) => !limited(request),
    keyGenerator: (request) => request.actor?.apiKeyId ?? request.ip,
    errorResponseBuilder: (_request, context) => gwError('GW_ERR_RATE_LIMITED',
      `Rate limit of ${context.max} requests per ${window} exceeded for this API key; retry in ${Math.ceil(context.ttl / 1000)} s`, {
        headers: { 'retry-after': String(Math.ceil(context.ttl / 1000)) },
        extensions: { retryAfter: Math.ceil(context.ttl / 1000), limit: context.max }
      })
  })
}

/** @fastify/rate-limit's store over the gateway's window counts (same store for every route). */
function storeOf (counts: WindowCounts): new () => FastifyRateLimitStore {
  return class {
    incr (key: string, callback: (err: Error | null, result?: { current: number, ttl: number }) => void, timeWindow: number): void {
      counts.add(key, timeWindow).then(({ count, ttlMs }) => callback(null, { current: count, ttl: ttlMs }), callback)
    }

    child (): FastifyRateLimitStore { return this }
  }
}

export default fp(rateLimitPlugin, { name: 'rate-limit', dependencies: ['auth', 'redis'] })
