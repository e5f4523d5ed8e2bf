// Erasing an end user's data: the tenant's own resource, so X-User-Id is accepted and ignored
// (the user named in the path need not be, and never is made, a known user).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../schemas.ts'
import { UserDeletionSchema } from '../../deletions.ts'

const HeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Ignored: the user to delete is named in the path' }))
})

const users: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.delete('/:userId', {
    config: { tenantOnly: true },
    schema: {
      tags: ['users'],
      operationId: 'deleteUser',
      summary: 'Delete an end user and all their data (idempotent: an unknown or already deleted user answers 200 with zero counts)',
      description: 'Cancels the user\'s active exports and running turns first, then removes their sessions, session events, turns, uploads\' metadata, exports, the webhook messages about them or their exports, and their own upstream tokens (a shared registered token is kept), then the user.',
      headers: HeadersSchema,
      params: Type.Object({ userId: Type.String({ pattern: '^[A-Za-z0-9._:@-]{1,128}$', description: 'Your own id for the end user (as in X-User-Id)' }) }),
      response: withProblems({ 200: UserDeletionSchema })
    }
  }, async (request) => ({ deleted: await fastify.domain.deletions.deleteUser(request.actor.tenantId, request.params.userId) }))
}

export default users
