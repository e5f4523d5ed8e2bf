// What the tenant's users used: with X-User-Id, that user's usage; without, the whole tenant's.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../schemas.ts'
import { UsageQuerySchema, UsageSchema } from '../../../schemas/usage.ts'

const HeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'One end user\'s usage (your own id for them); leave it out for the whole tenant' }))
})

const usage: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config: { userOptional: true, scope: 'usage:read' },
    schema: {
      tags: ['usage'],
      operationId: 'getUsage',
      summary: 'Credits spent, turns, uploads, exports and webhook deliveries per day or per user (counters kept as the work happens)',
      headers: HeadersSchema,
      querystring: UsageQuerySchema,
      response: withProblems({ 200: UsageSchema })
    }
  }, async (request) => await fastify.domain.usage.report(request.actor, request.query))
}

export default usage
