// The test-only control plane under /__sim/ (no auth): tests arrange upstream conditions here
// (faults, expired tokens, empty wallets, forgotten sessions) and read counters that prove what
// the gateway did on the wire (how many mints, whether streams were released).
import { Type, TypeBoxValidatorCompiler, type FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { SimulatorOptionsPatchSchema, type SimulatorOptions } from '../config.ts'
import { ENDPOINTS, type SimContext } from '../context.ts'
import { balanceOf, REGISTERED_CREDITS } from '../state.ts'

const FaultSchema = Type.Object({
  endpoint: Type.Union(ENDPOINTS.map((e) => Type.Literal(e))),
  count: Type.Optional(Type.Integer({ minimum: 1 })),
  status: Type.Optional(Type.Integer({ minimum: 100, maximum: 599 })),
  body: Type.Optional(Type.Unknown()),
  headers: Type.Optional(Type.Record(Type.String(), Type.String())),
  code: Type.Optional(Type.Integer()),
  message: Type.Optional(Type.String()),
  delayMs: Type.Optional(Type.Integer({ minimum: 0 })),
  destroy: Type.Optional(Type.Boolean())
}, { additionalProperties: false })

const TokenBody = Type.Object({ token: Type.String() })
// A body-less POST is fine here: Fastify validates a missing body as null or undefined.
const NewTokenBody = Type.Union([Type.Undefined(), Type.Null(), Type.Object({
  credits: Type.Optional(Type.Integer({ minimum: 0 })),
  expiresInMs: Type.Optional(Type.Integer({ minimum: 1 }))
})])
const CreditsBody = Type.Object({ token: Type.String(), available: Type.Integer({ minimum: 0 }) })
const ForgetBody = Type.Object({ session_id: Type.String() })

const controlRoutes: FastifyPluginAsyncTypebox<{ ctx: SimContext }> = async (app, { ctx }) => {
  // TypeBox's own compiler: a fraction of Ajv's start-up cost, and tests start many simulators.
  app.setValidatorCompiler(TypeBoxValidatorCompiler)
  const unknownToken = { error: 'unknown token' }

  app.post('/__sim/faults', { schema: { body: FaultSchema } }, async (request) => {
    ctx.addFault(request.body)
    return { ok: true }
  })

  app.get('/__sim/counters', async () => ctx.snapshotCounters())

  // the last requests (endpoint, W3C traceparent): proves a caller's trace reached the upstream
  app.get('/__sim/requests', async () => ctx.seen)

  app.post('/__sim/reset', async () => {
    ctx.reset()
    return { ok: true }
  })

  app.get('/__sim/config', async () => ctx.options)

  app.post('/__sim/config', { schema: { body: SimulatorOptionsPatchSchema } }, async (request, reply) => {
    try {
      return ctx.configure(request.body as Partial<SimulatorOptions>)
    } catch (err) {
      return reply.code(400).send({ error: (err as Error).message })
    }
  })

  app.post('/__sim/tokens', { schema: { body: NewTokenBody } }, async (request) => {
    const body = request.body ?? {}
    const { token, user } = ctx.state.createRegistered(body.credits ?? REGISTERED_CREDITS, body.expiresInMs ?? ctx.options.tokenTtlMs)
    return { token: token.token, user_id: user.userId, expires_at: new Date(token.expiresAt).toISOString(), credits: user.available }
  })

  app.post('/__sim/tokens/expire', { schema: { body: TokenBody } }, async (request, reply) => {
    const token = ctx.state.tokens.get(request.body.token)
    if (token === undefined) return reply.code(404).send(unknownToken)
    token.expiresAt = Math.min(token.expiresAt, Date.now() - 1)
    return { ok: true }
  })

  app.post('/__sim/tokens/revoke', { schema: { body: TokenBody } }, async (request, reply) => {
    const token = ctx.state.tokens.get(request.body.token)
    if (token === undefined) return reply.code(404).send(unknownToken)
    token.revoked = true
    return { ok: true }
  })

  app.put('/__sim/credits', { schema: { body: CreditsBody } }, async (request, reply) => {
    const token = ctx.state.tokens.get(request.body.token)
    const user = token === undefined ? undefined : ctx.state.users.get(token.userId)
    if (user === undefined) return reply.code(404).send(unknownToken)
    user.available = request.body.available
    return balanceOf(user)
  })

  app.post('/__sim/sessions/forget', { schema: { body: ForgetBody } }, async (request, reply) => {
    if (!ctx.state.sessions.delete(request.body.session_id)) return reply.code(404).send({ error: 'unknown session' })
    return { ok: true }
  })

  app.get('/__sim/uploads', async () => ctx.state.uploads)
}

export default controlRoutes
