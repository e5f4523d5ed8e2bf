// Session creation, session state and the credit balance (contract §3.3, §3.6, §3.7): the
// read side a gateway polls after a silent turn or a dropped stream.
import type { FastifyPluginAsync, FastifyReply } from 'fastify'
import type { SimContext } from '../context.ts'
import { fail, guard, ok, userOf } from '../guard.ts'
import { balanceOf } from '../state.ts'

/** With `numericIds`, session_id goes out as a bare JSON number, exactly as many digits as it has. */
function withIds (ctx: SimContext, reply: FastifyReply, body: unknown): unknown {
  if (!ctx.options.numericIds) return body
  return reply.type('application/json').send(JSON.stringify(body).replace(/"session_id":"(\d+)"/g, '"session_id":$1'))
}

const sessionRoutes: FastifyPluginAsync<{ ctx: SimContext }> = async (app, { ctx }) => {
  app.post('/api/tasks/me/with-session/nemo_agent', { onRequest: guard(ctx, 'create-session', { auth: true }) }, async (request, reply) => {
    const body = (request.body ?? {}) as { task_name?: unknown, language?: unknown }
    const taskName = typeof body.task_name === 'string' && body.task_name !== '' ? body.task_name : 'project'
    const language = typeof body.language === 'string' ? body.language : null
    const user = userOf(request)
    const session = ctx.state.createSession(user, taskName, language)
    return withIds(ctx, reply, ok({ task_id: session.taskId, session_id: session.sessionId, user_id: user.userId }))
  })

  app.get<{ Params: { sid: string } }>('/api/state/nemo_agent/me/:sid/latest', { onRequest: guard(ctx, 'state', { auth: true }) }, async (request, reply) => {
    const session = ctx.state.sessionOf(userOf(request), request.params.sid)
    if (session === undefined) return fail(1002, 'session not found')
    return withIds(ctx, reply, ok({
      session_id: session.sessionId,
      task_id: session.taskId,
      task_name: session.taskName,
      state: session.state
    }))
  })

  app.get('/api/credits/balance/simple', { onRequest: guard(ctx, 'credits', { auth: true }) }, async (request) => {
    return ok(balanceOf(userOf(request)))
  })
}

export default sessionRoutes
