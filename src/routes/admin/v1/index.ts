// The operator surface, behind ADMIN_TOKEN: tenants, their API keys and upstream tokens.
import type { FastifyPluginAsync } from 'fastify'
import tenants from './tenants/index.ts'
import keys from './keys/index.ts'
import signingKeys from './signing-keys/index.ts'

const admin: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', fastify.authenticateAdmin)
  // JSON only: a text body is 415, not a JSON body that failed validation
  fastify.removeContentTypeParser('text/plain')
  await fastify.register(tenants, { prefix: '/tenants' })
  await fastify.register(keys, { prefix: '/keys' })
  await fastify.register(signingKeys, { prefix: '/signing-keys' })
}

export default admin
