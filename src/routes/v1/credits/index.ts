// The end user's upstream credit balance and the tenant's budget.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { TenantHeadersSchema, withProblems } from '../../schemas.ts'
import { CreditsSchema } from '../../../schemas/credits.ts'

const credits: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    config: { scope: 'credits:read' },
    schema: {
      tags: ['credits'],
      operationId: 'getCredits',
      summary: 'Credits left for the end user, and the tenant\'s budget (a read: never mints a token, a zero balance is a 200)',
      headers: TenantHeadersSchema,
      response: withProblems({ 200: CreditsSchema, 402: { $ref: 'Problem#' } })
    }
  }, async (request) => await fastify.domain.credits.get(request.actor))
}

export default credits
