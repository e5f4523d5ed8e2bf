// The shape of a user's credits, written once: REST validates and serializes it, OpenAPI publishes it,
// and the domain's view type is Static<> of it (see export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const CreditsSchema = Type.Object({
  available: Type.Number(),
  frozen: Type.Number(),
  total: Type.Number(),
  tokenMode: Type.Union([Type.Literal('anonymous'), Type.Literal('registered')]),
  token: Type.Union([
    Type.Literal('none yet'), Type.Literal('active'), Type.Literal('expiring'), Type.Literal('expired'),
    Type.Literal('exhausted'), Type.Literal('rate_limited'), Type.Literal('revoked')
  ], {
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

export type CreditsView = Static<typeof CreditsSchema>
