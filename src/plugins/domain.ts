// The business services, built once from the app's infrastructure and shared by REST,
// GraphQL and the CLI alike. What runs beside the requests (pollers, delivery, sweeps, the
// drain) is started by plugins/background.ts.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { buildDomain, type Domain } from '../domain/index.ts'
import { SigningKeys } from '../domain/tenancy/index.ts'
import { publicBaseUrl } from '../config.ts'

declare module 'fastify' {
  interface FastifyInstance {
    domain: Domain
  }
}

async function domain (fastify: FastifyInstance): Promise<void> {
  // PORT=0 picks a port at listen: links name the real one from then on
  let baseUrl = publicBaseUrl(fastify.config)
  fastify.addHook('onListen', async () => {
    const address = fastify.server.address()
    if (typeof address === 'object' && address) baseUrl = publicBaseUrl(fastify.config, address.port)
  })
  const signingKeys = await SigningKeys.load({
    configured: fastify.config.TOKEN_SIGNING_KEY,
    retired: fastify.config.TOKEN_SIGNING_KEYS_RETIRED,
    dataDir: fastify.config.DATA_DIR,
    log: fastify.log.child({ component: 'signing-keys' })
  })
  fastify.decorate('domain', buildDomain({
    prisma: fastify.prisma,
    sql: fastify.sql,
    nemo: fastify.nemo,
    config: fastify.config,
    encryptionKey: fastify.encryptionKey,
    log: fastify.log.child({ component: 'domain' }),
    bus: fastify.eventBus,
    jobs: fastify.jobs,
    publicBaseUrl: () => baseUrl
  }, signingKeys))
}

export default fp(domain, { name: 'domain', dependencies: ['db', 'nemo', 'pubsub', 'jobs'] })
