// The whole gateway as one Fastify plugin. It never listens: server.ts does that, tests
// register it on a fresh instance. Infrastructure plugins first, then the surfaces, then
// the background work.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import type { Config } from './config.ts'
import problems from './plugins/problems.ts'
import telemetry from './plugins/telemetry.ts'
import db from './plugins/db.ts'
import health from './plugins/health.ts'
import redis from './plugins/redis.ts'
import nemo from './plugins/nemo.ts'
import pubsub from './plugins/pubsub.ts'
import jobs from './plugins/jobs.ts'
import domain from './plugins/domain.ts'
import authThrottle from './plugins/auth-throttle.ts'
import auth from './plugins/auth.ts'
import rateLimit from './plugins/rate-limit.ts'
import idempotency from './plugins/idempotency.ts'
import graphql from './plugins/graphql.ts'
import openapi from './plugins/openapi.ts'
import firstRun from './plugins/first-run.ts'
import v1 from './routes/v1/index.ts'
import admin from './routes/admin/v1/index.ts'
import wellKnown from './routes/well-known.ts'
import portalPage from './routes/portal.ts'
import cors from './plugins/cors.ts'
import background from './plugins/background.ts'

interface AppOptions {
  config: Config
  /** Where one-time notices for the operator go (the first-run API key). */
  announce?: (text: string) => void
}

declare module 'fastify' {
  interface FastifyInstance {
    config: Config
  }
}

async function app (fastify: FastifyInstance, opts: AppOptions): Promise<void> {
  fastify.decorate('config', opts.config)
  await fastify.register(telemetry)
  await fastify.register(problems)
  await fastify.register(openapi)
  await fastify.register(db)
  await fastify.register(redis)
  await fastify.register(health)
  await fastify.register(nemo)
  await fastify.register(pubsub)
  await fastify.register(jobs)
  await fastify.register(domain)
  await fastify.register(authThrottle)
  await fastify.register(auth)
  await fastify.register(cors)
  await fastify.register(rateLimit)
  await fastify.register(idempotency)
  await fastify.register(graphql)
  await fastify.register(firstRun, { announce: opts.announce })
  await fastify.register(v1, { prefix: '/v1' })
  await fastify.register(admin, { prefix: '/admin/v1' })
  await fastify.register(wellKnown)
  await fastify.register(portalPage)
  // pollers, delivery, sweeps and the drain: started once the app is ready
  await fastify.register(background)
}

export default fp(app, { name: 'nemo-gateway' })
