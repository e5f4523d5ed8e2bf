// The business services, built once from the app's infrastructure and shared by REST,
// GraphQL and the CLI alike.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { buildDomain, type Domain } from '../domain/index.ts'

declare module 'fastify' {
  interface FastifyInstance {
    domain: Domain
  }
}

async function domain (fastify: FastifyInstance): Promise<void> {
  const built = buildDomain({
    prisma: fastify.prisma,
    nemo: fastify.nemo,
    config: fastify.config,
    encryptionKey: fastify.encryptionKey,
    log: fastify.log.child({ component: 'domain' }),
    bus: fastify.eventBus
  })
  fastify.decorate('domain', built)
  // running chat turns get a moment to finish before the database goes away
  fastify.addHook('preClose', async () => { await built.turns.close() })
  // turns orphaned by an instance that died are closed at start and then every few minutes
  const sweep = () => {
    built.turns.sweepAbandoned()
      .then((n) => { if (n > 0) fastify.log.warn({ turns: n }, 'closed turns abandoned by a stopped instance') })
      .catch((err: unknown) => fastify.log.warn({ err }, 'could not sweep abandoned turns'))
  }
  fastify.addHook('onReady', async () => { sweep() })
  const timer = setInterval(sweep, 5 * 60_000)
  timer.unref()
  fastify.addHook('onClose', async () => clearInterval(timer))
}

export default fp(domain, { name: 'domain', dependencies: ['db', 'nemo', 'pubsub'] })
