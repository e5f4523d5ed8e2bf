// Token endpoints (contract §3.1, §3.2). The anonymous mint is the one unauthenticated upstream
// call, and the one with hard rate limits: the gateway's mint budget is tested against these.
import type { FastifyPluginAsync } from 'fastify'
import type { SimContext } from '../context.ts'
import { fail, guard, ok, userOf } from '../guard.ts'

const CLAIM_TTL_SEC = 604800

const authRoutes: FastifyPluginAsync<{ ctx: SimContext }> = async (app, { ctx }) => {
  app.post('/api/auth/anonymous-token', { onRequest: guard(ctx, 'anonymous-token', { auth: false }) }, async (request, reply) => {
    const clientId = request.headers['x-client-id']
    if (typeof clientId !== 'string' || clientId.trim() === '') {
      return reply.code(400).send(fail(400, 'X-Client-Id header required'))
    }
    if (clientId.length > 64) {
      return reply.code(400).send(fail(400, 'X-Client-Id must be at most 64 characters'))
    }
    const o = ctx.options
    const result = ctx.state.mintAnonymous(clientId, request.ip, {
      perClient: o.mintLimitPerClient, perIp: o.mintLimitPerIp, windowMs: o.mintWindowMs, ttlMs: o.tokenTtlMs, credits: o.anonymousCredits
    })
    if (!result.ok) {
      const message = result.reason === 'client'
        ? 'rate limit exceeded: one anonymous token per client per 7 days'
        : 'rate limit exceeded: too many anonymous tokens from this IP'
      return reply.code(429).header('retry-after', String(result.retryAfterSec)).send(fail(429, message))
    }
    ctx.counters.mints++
    return ok({
      token: result.token.token,
      user_id: result.user.userId,
      expires_at: new Date(result.token.expiresAt).toISOString(),
      credits: result.user.available
    })
  })

  app.post('/api/auth/claim-token', { onRequest: guard(ctx, 'claim-token', { auth: true }) }, async (request, reply) => {
    const body = (request.body ?? {}) as { task_id?: unknown, session_id?: unknown }
    if (typeof body.session_id !== 'string' || typeof body.task_id !== 'string') {
      return reply.code(400).send(fail(400, 'task_id and session_id are required'))
    }
    const session = ctx.state.sessionOf(userOf(request), body.session_id)
    if (session === undefined || session.taskId !== body.task_id) return fail(1002, 'session not found')
    return ok({ claim_token: 'clm_' + ctx.state.rng.base64url(32), expires_in: CLAIM_TTL_SEC })
  })
}

export default authRoutes
