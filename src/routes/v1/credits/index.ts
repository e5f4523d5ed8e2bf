// The end user's upstream credit balance and the tenant's budget.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DateTime, TenantHeadersSchema, withProblems } from '../../schemas.ts'

const CreditsSchema = Type.Object({
  available: Type.Number(),
  frozen: Type.Number(),
  total: Type.Number(),
  tokenMode: Type.Union([Type.Literal('anonymous'), Type.Literal('registered')]),
  budget: Type.Object({
    limit: Type.Union([Type.Integer(), Type.Null()]),
    spent: Type.Integer(),
    remaining: Type.Union([Type.Integer(), Type.Null()]),
    exceeded: Type.Boolean()
  }),
  cachedAt: DateTime
})

const credits: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.get('/', {
    schema: {
      tags: ['credits'],
      summary: 'Credits left for the end user, and the tenant\'s budget',
      headers: TenantHeadersSchema,
      response: withProblems({ 200: CreditsSchema, 402: { $ref: 'Problem#' } })
    }
  }, async (request) => await fastify.domain.credits.get(request.actor))
}

export default credits
