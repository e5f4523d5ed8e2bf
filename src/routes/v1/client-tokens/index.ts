// Client tokens: the tenant's backend (API key + X-User-Id) asks for a short-lived token for
// one of its users and hands it to that user's browser or app, which then calls the gateway
// with `Authorization: Bearer <token>` alone (or `?access_token=` on an event stream).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { DateTime } from '../../../schemas/common.ts'
import { CLIENT_DEFAULT_SCOPES, CLIENT_TOKEN_DEFAULT_TTL_S, CLIENT_TOKEN_MAX_SESSIONS, CLIENT_TOKEN_MAX_TTL_S, SCOPES } from '../../../domain/tenancy/index.ts'

const ScopeSchema = Type.Union(SCOPES.map(s => Type.Literal(s)))

const ClientTokenSchema = Type.Object({
  token: Type.String({ description: 'A JWT for `Authorization: Bearer`; a secret for as long as it lives' }),
  expiresAt: DateTime,
  scopes: Type.Array(Type.String()),
  sessionIds: Type.Optional(Type.Array(Type.String()))
})

const clientTokens: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    config: { scope: 'client-tokens:create' },
    schema: {
      tags: ['client-tokens'],
      operationId: 'createClientToken',
      summary: 'A short-lived token for the end user (X-User-Id) to use from a browser or app, in place of the API key',
      description: `Defaults: scopes ${CLIENT_DEFAULT_SCOPES.join(', ')} (read and follow); ${CLIENT_TOKEN_DEFAULT_TTL_S / 60} minutes. ` +
        'Writes need explicit scopes; webhooks:manage, users:manage and client-tokens:create are never granted. ' +
        'With sessionIds, the token sees only those sessions of the user.',
      headers: TenantHeadersSchema,
      body: Type.Object({
        scopes: Type.Optional(Type.Array(ScopeSchema, { maxItems: SCOPES.length })),
        sessionIds: Type.Optional(Type.Array(UuidParam, { minItems: 1, maxItems: CLIENT_TOKEN_MAX_SESSIONS })),
        ttlSeconds: Type.Optional(Type.Integer({ minimum: 30, maximum: CLIENT_TOKEN_MAX_TTL_S }))
      }, { additionalProperties: false }),
      response: withProblems({ 201: ClientTokenSchema, 403: { $ref: 'Problem#' } })
    }
  }, async (request, reply) => {
    const { actor } = request
    const minted = await fastify.domain.clientTokens.mint(actor.tenantId, actor.userId, actor.externalUserId, actor.scopes, request.body)
    return await reply.code(201).header('cache-control', 'no-store').send(minted)
  })
}

export default clientTokens
