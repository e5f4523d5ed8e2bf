// The upstream client, one per app: its connection pool is opened here and closed in onClose.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { NemoClient } from '../nemo/client.ts'

declare module 'fastify' {
  interface FastifyInstance {
    nemo: NemoClient
  }
}

async function nemo (fastify: FastifyInstance): Promise<void> {
  const client = NemoClient.fromConfig(fastify.config)
  fastify.decorate('nemo', client)
  fastify.addHook('onClose', async () => { await client.close() })
}

export default fp(nemo, { name: 'nemo' })
