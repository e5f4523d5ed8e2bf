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
  fastify.decorate('domain', buildDomain({
    prisma: fastify.prisma,
    nemo: fastify.nemo,
    config: fastify.config,
    encryptionKey: fastify.encryptionKey,
    log: fastify.log.child({ component: 'domain' })
  }))
}

export default fp(domain, { name: 'domain', dependencies: ['db', 'nemo'] })
