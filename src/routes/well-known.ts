// The public keys of the gateway's client tokens (RFC 7517), for anyone who wants to check a
// token offline. A retired key stays listed until the last token it signed has expired.
import type { FastifyPluginAsync } from 'fastify'

const wellKnown: FastifyPluginAsync = async (fastify) => {
  fastify.get('/.well-known/jwks.json', {
    schema: {
      tags: ['client-tokens'],
      operationId: 'getJwks',
      summary: 'The public keys that verify client tokens (JWKS)',
      response: { 200: { type: 'object', properties: { keys: { type: 'array', items: { type: 'object', additionalProperties: true } } } } }
    }
  }, async (_request, reply) => {
    return await reply.header('cache-control', 'public, max-age=300').send(fastify.domain.signingKeys.jwks())
  })
}

export default wellKnown
