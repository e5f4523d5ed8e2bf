// The session's event log: a JSON page from a cursor, or (Accept: text/event-stream) the
// same log as SSE that replays from the cursor and then follows live, with no gap and no
// duplicate; `Last-Event-ID` resumes after a reconnect.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { EVENT_PAGE_LIMIT, EventCursorSchema } from '../../../inputs.ts'
import { gwError } from '../../../errors.ts'
import { defaulted, eventStream, TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { resumeCursor, streamEvents, wantsEventStream } from '../../sse.ts'

const events: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sessions, events } = fastify.domain

  fastify.get('/', {
    config: { scope: 'events:read' },
    // the published shape is one schema per event type; the payloads are plain JSON the log
    // already holds, so they leave as they are rather than through a union serializer
    serializerCompiler: () => (data) => JSON.stringify(data),
    schema: {
      tags: ['events'],
      operationId: 'listSessionEvents',
      summary: 'The session\'s event log after a cursor (JSON), or live as text/event-stream',
      description: 'A page of the log after `after` (JSON), or with `Accept: text/event-stream` the same log replayed from the cursor and then followed live, ' +
        'with no gap and no duplicate; `Last-Event-ID` (a reconnecting EventSource) wins over `after`.',
      headers: Type.Intersect([TenantHeadersSchema, Type.Object({ 'last-event-id': Type.Optional(Type.String({ maxLength: 20 })) })]),
      params: Type.Object({ sessionId: UuidParam }),
      querystring: defaulted(Type.Object({
        after: Type.Optional(EventCursorSchema),
        limit: Type.Integer({ minimum: 1, maximum: EVENT_PAGE_LIMIT.max, default: EVENT_PAGE_LIMIT.default, description: `Events per page (default ${EVENT_PAGE_LIMIT.default})` })
      })),
      response: withProblems({
        200: {
          description: 'The log: a JSON page, or with Accept: text/event-stream the live stream',
          content: {
            'application/json': { schema: Type.Object({ items: Type.Array(Type.Unsafe({ $ref: 'SessionEvent#' })), nextCursor: Type.Union([Type.String(), Type.Null()]) }) },
            ...eventStream('The session\'s log from the cursor, then live; it ends only when the client leaves.')
          }
        },
        406: { $ref: 'Problem#' }
      })
    }
  }, async (request, reply) => {
    // the cached view (one plain query on a miss): every stream and page starts here
    const session = await sessions.get(request.actor, request.params.sessionId)
    const after = resumeCursor(request, request.query.after)
    if (wantsEventStream(request)) {
      return await streamEvents(request, reply, fastify.config.SSE_KEEPALIVE_MS, (signal) => events.follow(session.id, after, signal))
    }
    const items = await events.list(session.id, after, request.query.limit)
    const last = items[items.length - 1]
    return { items, nextCursor: items.length === request.query.limit && last ? last.cursor : null }
  })

  // an explicit 406 beats a silent JSON answer to a client that asked for something else
  fastify.addHook('onRequest', async (request) => {
    const accept = request.headers.accept
    if (accept && !/(\*\/\*|application\/(json|\*)|text\/event-stream|application\/problem\+json)/.test(accept)) {
      throw gwError('GW_ERR_NOT_ACCEPTABLE', 'This route answers application/json or text/event-stream')
    }
  })
}

export default events
