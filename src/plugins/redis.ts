// One Redis connection for the instance's shared counters (rate limits, failed
// authentications) and for readiness, when REDIS_URL is set; `fastify.redis` is null otherwise.
// (The event fan-out, mqemitter-redis, keeps its own pair of connections: it subscribes.)
import fp from 'fastify-plugin'
import { Redis } from 'ioredis'
import type { FastifyInstance } from 'fastify'

declare module 'fastify' {
  interface FastifyInstance {
    redis: Redis | null
  }
}

async function redisPlugin (fastify: FastifyInstance): Promise<void> {
  const url = fastify.config.REDIS_URL
  if (!url) {
    fastify.decorate('redis', null)
    return
  }
  const redis = new Redis(url, { connectTimeout: 2000, maxRetriesPerRequest: 1, lazyConnect: false })
  redis.on('error', (err) => fastify.log.debug({ err }, 'redis error'))
  fastify.decorate('redis', redis)
  fastify.addHook('onClose', async () => { await redis.quit().catch(() => redis.disconnect()) })
}

export default fp(redisPlugin, { name: 'redis' })
