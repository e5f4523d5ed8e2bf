// The session's timeline, typed, with the product's one-line summary.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { TimelineSchema } from '../../../schemas/timeline.ts'

const state: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['sessions'],
      operationId: 'getSessionState',
      summary: 'The session\'s timeline (tracks, canvas, assets) and a one-line summary',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      response: withProblems({ 200: TimelineSchema })
    }
  }, async (request) => await fastify.domain.timelines.get(request.actor, request.params.sessionId))
}

export default state
