// Server-sent events for the gateway's own streams: `id:` lines carry the log cursor (so
// EventSource's Last-Event-ID resumes exactly), a keep-alive comment flows while nothing
// happens, and the follower is stopped the moment the client goes away.
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import type { SessionEventView } from '../domain/events/index.ts'
import { domainMetrics } from '../observability/metrics.ts'

/** What a stream follows: one turn (POST .../turns) or a session's log (GET .../events). */
function streamKind (request: FastifyRequest): string {
  return (request.routeOptions.url ?? '').endsWith('/turns') ? 'turn' : 'events'
}
import { gwError } from '../errors.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The gateway's open SSE streams, ended by `closeEventStreams` when it shuts down. */
    eventStreams: Set<AbortController>
  }
}

/** Lets close() finish: SSE responses never end by themselves. */
export function closeEventStreams (fastify: FastifyInstance): void {
  fastify.decorate('eventStreams', new Set<AbortController>())
  fastify.addHook('preClose', async () => {
    // the turns end first, so their followers see how (turn.failed, interrupted)
    await fastify.drainTurns()
    // ... and the streams get a moment to deliver those last events from the bus
    if (fastify.eventStreams.size > 0) await new Promise((resolve) => setTimeout(resolve, LAST_EVENTS_MS))
    for (const stream of fastify.eventStreams) stream.abort(SHUTDOWN)
  })
}

/** The abort reason of streams ended by a closing gateway. */
const SHUTDOWN = Symbol('gateway shutting down')
/** How soon a client should reconnect (to another instance) after a drain ended its stream. */
const RECONNECT_MS = 1000
/** How long a drain lets streams deliver the events the drained turns wrote last. */
const LAST_EVENTS_MS = 250

export function wantsEventStream (request: FastifyRequest): boolean {
  return (request.headers.accept ?? '').includes('text/event-stream')
}

function frame (event: SessionEventView): string {
  const data = JSON.stringify({ cursor: event.cursor, sessionId: event.sessionId, type: event.type, turnId: event.turnId, payload: event.payload, createdAt: event.createdAt })
  return `id: ${event.cursor}\nevent: ${event.type}\ndata: ${data}\n\n`
}

/**
 * Streams `source(signal)` to the client until it ends or the client leaves. `until` ends
 * the stream after the event it matches (e.g. the turn's last event).
 */
export async function streamEvents (
  request: FastifyRequest,
  reply: FastifyReply,
  keepAliveMs: number,
  source: (signal: AbortSignal) => AsyncIterable<SessionEventView>,
  until?: (event: SessionEventView) => boolean
): Promise<void> {
  const controller = new AbortController()
  const res = reply.raw
  const onClose = () => controller.abort()
  res.on('close', onClose)
  // a closing gateway ends its streams (clients reconnect with Last-Event-ID elsewhere)
  const streams = request.server.eventStreams
  streams.add(controller)
  reply.hijack()
  const kind = { kind: streamKind(request) }
  request.server.leaveInFlight(request)
  domainMetrics().sseStreams.add(1, kind)
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache, no-transform',
    connection: 'keep-alive',
    'x-accel-buffering': 'no',
    'x-request-id': request.id
  })
  res.write(': connected\n\n')
  const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), keepAliveMs)
  try {
    for await (const event of source(controller.signal)) {
      if (!res.write(frame(event))) {
        await new Promise<void>(resolve => {
          const done = () => { res.off('drain', done); controller.signal.removeEventListener('abort', done); resolve() }
          res.once('drain', done)
          controller.signal.addEventListener('abort', done, { once: true })
        })
      }
      if (until?.(event) === true) break
    }
  } catch (err) {
    if (!controller.signal.aborted) {
      request.log.warn({ err }, 'event stream failed')
      res.write(`event: error\ndata: ${JSON.stringify({ code: 'GW_ERR_INTERNAL', detail: 'The event stream failed; reconnect with Last-Event-ID to resume' })}\n\n`)
    }
  } finally {
    // a drain: EventSource reconnects after `retry` ms and resumes with Last-Event-ID
    if (controller.signal.reason === SHUTDOWN) res.write(`retry: ${RECONNECT_MS}\n: the gateway is restarting; reconnect with Last-Event-ID to resume\n\n`)
    domainMetrics().sseStreams.add(-1, kind)
    streams.delete(controller)
    clearInterval(keepAlive)
    res.off('close', onClose)
    controller.abort()
    res.end()
  }
}

/**
 * The resume point: `Last-Event-ID` (a reconnecting EventSource) wins over `?after=`. A value
 * that is not a cursor is a 400 like a bad `after`, never a silent replay from the start.
 */
export function resumeCursor (request: FastifyRequest, after: string | undefined): bigint {
  const header = request.headers['last-event-id']
  const value = Array.isArray(header) ? header[0] : header
  if (value !== undefined && !/^\d{1,19}$/.test(value)) {
    throw gwError('GW_ERR_VALIDATION', 'Last-Event-ID must be an event cursor (the id of an event this stream sent)', {
      extensions: { errors: [{ in: 'headers', path: '/last-event-id', message: 'must be 1-19 digits' }] }
    })
  }
  const raw = value ?? after ?? '0'
  return /^\d{1,19}$/.test(raw) ? BigInt(raw) : 0n
}
