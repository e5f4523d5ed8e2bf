// Chat turns of a session. POST answers 202 at once (the turn runs server-side), or with
// Accept: text/event-stream streams the turn's events live until it ends; leaving early
// does not cancel the turn.
// A turn the instance cannot take now is refused as soon as its caller's credential is verified
// (`admit`, plugins/auth.ts): before its end user is looked up, its body read and validated, the
// rate limit counted or its Idempotency-Key looked up. One tenant's burst is mostly refusals, and
// each must cost next to nothing: another tenant's turn waits behind them on the same event loop
// (README: Admission).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MessageTextSchema } from '../../../inputs.ts'
import { eventStream, PageQuerySchema, TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { TurnSchema } from '../../../schemas/turn.ts'
import { streamEvents, wantsEventStream } from '../../sse.ts'

const Params = Type.Object({ sessionId: UuidParam })

const turns: FastifyPluginAsyncTypebox = async (fastify) => {
  const { turns, events } = fastify.domain

  fastify.post('/', {
    config: { scope: 'turns:write', idempotent: true, admit: (tenantId) => turns.refusalNow(tenantId) },
    schema: {
      tags: ['turns'],
      operationId: 'startTurn',
      summary: 'Send a chat message to the editing agent',
      description: 'Answers 202 with the running turn (follow it with GET .../turns/{turnId} or the session\'s events), or with `Accept: text/event-stream` ' +
        'answers 200 and streams the turn\'s events live, from turn.started to turn.completed or turn.failed; leaving early does not cancel the turn. ' +
        'One running turn per session: a second gets 409 GW_ERR_TURN_IN_PROGRESS. A user whose token is known to have no credits left gets 402 GW_ERR_CREDITS_EXHAUSTED ' +
        'with the registration `hint` at once, and a tenant over its budget 402 GW_ERR_BUDGET_EXCEEDED.',
      headers: TenantHeadersSchema,
      params: Params,
      body: Type.Object({ text: MessageTextSchema }, { additionalProperties: false, examples: [{ text: 'add a title Urban Dreams for the first 3 seconds' }] }),
      response: withProblems({
        200: { description: 'With Accept: text/event-stream: the turn\'s events as they happen', content: eventStream('The turn\'s events, from turn.started to turn.completed or turn.failed, then the stream ends.') },
        202: TurnSchema,
        402: { $ref: 'Problem#' },
        409: { $ref: 'Problem#' }
      })
    }
  }, async (request, reply) => {
    const { turn, cursorBefore, first } = await turns.start(request.actor, request.params.sessionId, request.body.text)
    const location = `/v1/sessions/${turn.sessionId}/turns/${turn.id}`
    if (wantsEventStream(request)) {
      await fastify.completeIdempotency(request, 202, turn, { location })
      return await streamEvents(request, reply, fastify.config.SSE_KEEPALIVE_MS,
        async function * (signal) {
          for await (const e of events.follow(turn.sessionId, cursorBefore, signal, first)) if (e.turnId === turn.id) yield e
        },
        (e) => e.type === 'turn.completed' || e.type === 'turn.failed')
    }
    return await reply.code(202).header('location', location).send(turn)
  })

  fastify.get('/', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['turns'],
      operationId: 'listTurns',
      summary: 'The session\'s turns, newest first',
      headers: TenantHeadersSchema,
      params: Params,
      querystring: PageQuerySchema,
      response: withProblems({ 200: Type.Object({ items: Type.Array(TurnSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) })
    }
  }, async (request) => await turns.list(request.actor, request.params.sessionId, request.query))

  fastify.get('/:turnId', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['turns'],
      operationId: 'getTurn',
      summary: 'One turn',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam, turnId: UuidParam }),
      response: withProblems({ 200: TurnSchema })
    }
  }, async (request) => await turns.get(request.actor, request.params.sessionId, request.params.turnId))
}

export default turns
