// An end user's data and client tokens: the tenant's own resource, so X-User-Id is accepted and ignored
// (the user named in the path need not be a known user; deleting never makes one).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../schemas.ts'
import { UserDeletionSchema } from '../../deletions.ts'
import { DateTime } from '../../../schemas/common.ts'

const HeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Ignored: the user to delete is named in the path' }))
})

const UserParams = Type.Object({ userId: Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,128}$', description: 'Your own id for the end user (as in X-User-Id)' }) })

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.delete('/:userId', {
    config: { scope: 'users:manage', tenantOnly: true },
    schema: {
      tags: ['users'],
      operationId: 'deleteUser',
      summary: 'Delete an end user and all their data (idempotent: an unknown or already deleted user answers 200 with zero counts)',
      description: 'Cancels the user\'s active exports and running turns first, then removes their sessions, session events, turns, uploads\' metadata, exports, the webhook messages about them or their exports, and their own upstream tokens (a shared registered token is kept), then the user.',
      headers: HeadersSchema,
      params: UserParams,
      response: withProblems({ 200: UserDeletionSchema })
    }
  }, async (request) => ({ deleted: await fastify.domain.deletions.deleteUser(request.actor.tenantId, request.params.userId) }))

  fastify.post('/:userId/client-tokens/revoke', {
    config: { scope: 'users:manage', tenantOnly: true },
    schema: {
      tags: ['client-tokens'],
      operationId: 'revokeClientTokens',
      summary: 'End every client token of the user at once (on every instance within AUTH_CACHE_TTL_MS); tokens minted afterwards work',
      headers: HeadersSchema,
      params: UserParams,
      response: withProblems({ 200: Type.Object({ userId: Type.String(), revokedAt: DateTime }), 403: { $ref: 'Problem#' } })
    }
  }, async (request) => {
    const { tenantId } = request.actor
    const user = await fastify.domain.users.ensure(tenantId, request.params.userId)
    const revokedAt = await fastify.domain.clientTokens.revokeUser(tenantId, user.id)
    fastify.domain.caches.changed({ kind: 'client-tokens', tenantId, externalId: request.params.userId })
    return { userId: request.params.userId, revokedAt }
  })
}

export default users
