// One API key: revoke it, or rotate it with an overlap window.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../../schemas.ts'
import { ApiKeySchema, IssuedKeySchema } from '../schemas.ts'

// The key's id (UUID) or its keyId (the 16 characters after `ngw_`); never the whole key in a URL.
const KeyParams = Type.Object({
  apiKeyId: Type.String({ pattern: '^([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[a-z0-9]{16})$', description: 'The key\'s id or its keyId' })
})

const keys: FastifyPluginAsyncTypebox = async (fastify) => {
  const { apiKeys } = fastify.domain
  const tags = ['admin']

  fastify.get('/:apiKeyId', {
    schema: { tags, operationId: 'getApiKey', summary: 'One API key (never its secret)', params: KeyParams, response: withProblems({ 200: ApiKeySchema }) }
  }, async (request) => await apiKeys.get(request.params.apiKeyId))

  fastify.post('/:apiKeyId/revoke', {
    schema: { tags, operationId: 'revokeApiKey', summary: 'Revoke a key now', params: KeyParams, response: withProblems({ 200: ApiKeySchema }) }
  }, async (request) => {
    const key = await apiKeys.revoke(request.params.apiKeyId)
    fastify.forgetKeys()
    return key
  })

  fastify.post('/:apiKeyId/rotate', {
    schema: {
      tags,
      operationId: 'rotateApiKey',
      summary: 'Issue a replacement key; the old one keeps working for overlapSeconds',
      params: KeyParams,
      body: Type.Optional(Type.Object({
        overlapSeconds: Type.Integer({ minimum: 0, maximum: 30 * 24 * 3600, default: 86400 })
      }, { additionalProperties: false })),
      response: withProblems({ 201: Type.Object({ key: IssuedKeySchema, previous: ApiKeySchema }) })
    }
  }, async (request, reply) => {
    const result = await apiKeys.rotate(request.params.apiKeyId, request.body?.overlapSeconds ?? 86400)
    fastify.forgetKeys()
    return await reply.code(201).header('cache-control', 'no-store').send(result)
  })
}

export default keys
