// The end user's upstream credit balance and the tenant's budget.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DateTime, TenantHeadersSchema, withProblems } from '../../schemas.ts'

const CreditsSchema = Type.Object({
  available: Type.Number(),
  frozen: Type.Number(),
  total: Type.Number(),
  tokenMode: Type.Union([Type.Literal('anonymous'), Type.Literal('registered')]),
  token: Type.Union(['none yet', 'active', 'expiring', 'expired', 'exhausted', 'rate_limited', 'revoked'].map((s) => Type.Literal(s)), {
    description: 'The user\'s upstream token. "none yet": reads never mint one; the first action does, and the balance shown is what that mint grants'
  }),
  hint: Type.Union([Type.String(), Type.Null()], { description: 'With nothing available: the registration link (anonymous users) or top-up advice' }),
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
      summary: 'Credits left for the end user, and the tenant\'s budget (a read: never mints a token, a zero balance is a 200)',
      headers: TenantHeadersSchema,
      response: withProblems({ 200: CreditsSchema, 402: { $ref: 'Problem#' } })
    }
  }, async (request) => await fastify.domain.credits.get(request.actor))
}

export default credits
