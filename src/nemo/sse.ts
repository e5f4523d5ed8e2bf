// The `/run_sse` reader: eventsource-parser does the SSE framing, events.ts the payloads.
// The upstream has no "done" event, so the only way to tell a finished turn from a broken one
// is how the bytes end. A clean end leaves the parser with nothing buffered; a stream cut
// mid-event (half a `data:` line, or data lines without their blank line) does not, and
// that is thrown as NemoError 'stream_broken' instead of being silently dropped (SSE's own
// rule). Read errors from the source are mapped the same way, except aborts and timeouts.
import { createParser } from 'eventsource-parser'
import { fromStreamError, NemoError } from './errors.ts'
import { eventsFromData, type NemoEvent } from './events.ts'

export type SseSource = string | AsyncIterable<Uint8Array | string>

/** Parse a whole SSE body (a string, a Readable, any async iterable of chunks) into events. */
export async function * parseNemoSse (source: SseSource): AsyncGenerator<NemoEvent, void, undefined> {
  const queue: NemoEvent[] = []
  let frames = 0
  const parser = createParser({
    onEvent: (msg) => { frames++; queue.push(...eventsFromData(msg.data)) },
    // `: heartbeat` and any other comment line are keepalives.
    onComment: () => { frames++; queue.push({ type: 'heartbeat' }) }
  })
  const decoder = new TextDecoder()
  const chunks: AsyncIterable<Uint8Array | string> = typeof source === 'string' ? once(source) : source

  try {
    for await (const chunk of chunks) {
      parser.feed(typeof chunk === 'string' ? chunk : decoder.decode(chunk, { stream: true }))
      while (queue.length > 0) yield queue.shift() as NemoEvent
    }
  } catch (err) {
    throw fromStreamError(err)
  }

  const tail = decoder.decode()
  if (tail !== '') parser.feed(tail)
  while (queue.length > 0) yield queue.shift() as NemoEvent
  // Terminate whatever is still buffered: anything that completes now was cut off.
  const before = frames
  parser.feed('\n\n')
  if (frames > before) {
    throw new NemoError('stream_broken', { detail: 'The upstream event stream ended in the middle of an event' })
  }
}

async function * once (s: string): AsyncGenerator<string> {
  yield s
}
