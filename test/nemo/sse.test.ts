import { readFile } from 'node:fs/promises'
import { Readable } from 'node:stream'
import t from 'tap'
import { NemoError } from '../../src/nemo/errors.ts'
import type { NemoEvent } from '../../src/nemo/events.ts'
import { parseNemoSse, type SseSource } from '../../src/nemo/sse.ts'

async function collect (source: SseSource): Promise<NemoEvent[]> {
  const out: NemoEvent[] = []
  for await (const ev of parseNemoSse(source)) out.push(ev)
  return out
}

async function failure (source: SseSource): Promise<{ events: NemoEvent[], error: unknown }> {
  const events: NemoEvent[] = []
  try {
    for await (const ev of parseNemoSse(source)) events.push(ev)
  } catch (error) {
    return { events, error }
  }
  throw new Error('expected the stream to throw')
}

const frame = (o: unknown) => `data: ${JSON.stringify(o)}\n\n`

t.test('the verbatim ADK docs /run_sse example', async (t) => {
  const body = await readFile(new URL('./fixtures/adk-docs-run-sse.txt', import.meta.url), 'utf8')
  t.same(await collect(body), [
    { type: 'tool_call', name: 'get_weather', id: 'af-f83f8af9-f732-46b6-8cb5-7b5b73bbf13d', args: { city: 'new york' } },
    {
      type: 'tool_result',
      name: 'get_weather',
      id: 'af-f83f8af9-f732-46b6-8cb5-7b5b73bbf13d',
      result: { status: 'success', report: 'The weather in New York is sunny ...' }
    },
    { type: 'text', text: 'OK. The weather in New York is sunny ...\n', author: 'weather_time_agent' }
  ])
  // Byte-by-byte chunks (a multi-byte char split too) give the same events.
  const bytes = Buffer.from(body + frame({ content: { parts: [{ text: '导出 ✓' }] } }))
  const events = await collect(Readable.from([...bytes].map((b) => Buffer.from([b]))))
  t.equal(events.length, 4)
  t.same(events[3], { type: 'text', text: '导出 ✓' })
})

t.test('the typed {"type":...} framing', async (t) => {
  const body = [
    frame({ type: 'text', content: "I'll generate your video now..." }),
    frame({ type: 'tool_call', name: 'generate_video_with_seedance', args: { prompt: 'city' } }),
    frame({ type: 'heartbeat' }),
    frame({ type: 'tool_result', name: 'generate_video_with_seedance', result: { ok: true } }),
    frame({ type: 'ask_question', title: 'Style?', questions: [{ id: 'q1', prompt: 'Which?', options: [] }] }),
    frame({ type: 'error', error: 'agent crashed' }),
    frame({ type: 'thinking_chunk', text: 'hmm' }),
    frame({ type: 'done' })
  ].join('')
  t.same(await collect(body), [
    { type: 'text', text: "I'll generate your video now..." },
    { type: 'tool_call', name: 'generate_video_with_seedance', args: { prompt: 'city' } },
    { type: 'heartbeat' },
    { type: 'tool_result', name: 'generate_video_with_seedance', result: { ok: true } },
    { type: 'ask_question', title: 'Style?', questions: [{ id: 'q1', prompt: 'Which?', options: [] }] },
    { type: 'error', message: 'agent crashed' }
  ])
})

t.test('every heartbeat form', async (t) => {
  const body = ': heartbeat\n\n' + 'data: \n\n' + 'data:\n\n' + frame({ type: 'heartbeat' }) + ':\n\n'
  t.same(await collect(body), Array(5).fill({ type: 'heartbeat' }))
})

t.test('ADK details: thought parts, partials, content-less events, unknown fields, errors', async (t) => {
  const body = [
    frame({ content: { parts: [{ text: 'thinking...', thought: true }, { text: 'visible' }], role: 'model' }, author: 'nemo', newField: { x: 1 } }),
    frame({ content: { parts: [{ text: 'Hel' }] }, partial: true, author: 'nemo' }),
    frame({ content: { parts: [{ text: 'Hello' }] }, author: 'nemo', usageMetadata: { totalTokenCount: 3 }, turnComplete: true }),
    frame({ invocationId: 'e-1', author: 'nemo', actions: { stateDelta: {}, artifactDelta: {} }, id: 'x' }),
    frame({ author: 'nemo', actions: { stateDelta: { draft_version: 3 } } }),
    frame({ content: { parts: [{ functionCall: { id: 'adk-1', name: 'ask_question', args: { questions: [{ id: 'q', prompt: 'Vertical?' }] } } }], role: 'model' } }),
    frame({ content: { parts: [{ inlineData: { mimeType: 'image/png', data: '' } }] } }),
    frame({ error: 'Model overloaded' }),
    frame({ errorCode: 'MALFORMED_FUNCTION_CALL', errorMessage: 'bad call' }),
    'data: not json\n\n'
  ].join('')
  t.same(await collect(body), [
    { type: 'text', text: 'visible', author: 'nemo' },
    { type: 'text', text: 'Hello', author: 'nemo' },
    { type: 'state_delta', delta: { draft_version: 3 } },
    { type: 'ask_question', id: 'adk-1', questions: [{ id: 'q', prompt: 'Vertical?' }] },
    { type: 'error', message: 'Model overloaded' },
    { type: 'error', message: 'bad call', code: 'MALFORMED_FUNCTION_CALL' }
  ])
})

t.test('multi-line data and CRLF framing', async (t) => {
  const body = 'data: {"type":"text",\r\ndata: "content":"two lines"}\r\n\r\n'
  t.same(await collect(body), [{ type: 'text', text: 'two lines' }])
})

t.test('a clean end is not an error, even with no events', async (t) => {
  t.same(await collect(''), [])
  t.same(await collect(frame({ content: { parts: [{ text: 'hi' }] } })), [{ type: 'text', text: 'hi' }])
})

t.test('a stream cut mid-event throws stream_broken after what was complete', async (t) => {
  const complete = frame({ content: { parts: [{ text: 'first' }] } })
  for (const [name, tail] of [
    ['half a data line', 'data: {"content":{"parts":[{"te'],
    ['a data line without its blank line', frame({ type: 'text', content: 'x' }).slice(0, -1)],
    ['a lone data: prefix', 'data:']
  ]) {
    const { events, error } = await failure(complete + tail)
    t.same(events, [{ type: 'text', text: 'first' }], `${name}: complete events are delivered`)
    t.ok(error instanceof NemoError && error.kind === 'stream_broken', `${name}: stream_broken`)
    t.equal((error as NemoError).code, 'GW_ERR_UPSTREAM_UNAVAILABLE')
  }
})

t.test('a source that errors (socket destroyed) surfaces as stream_broken', async (t) => {
  async function * dying (): AsyncGenerator<string> {
    yield frame({ type: 'text', content: 'partial answer' })
    throw Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' })
  }
  const { events, error } = await failure(dying())
  t.same(events, [{ type: 'text', text: 'partial answer' }])
  t.ok(error instanceof NemoError && error.kind === 'stream_broken')

  async function * slow (): AsyncGenerator<string> {
    yield ': heartbeat\n\n'
    throw Object.assign(new Error('Body Timeout Error'), { code: 'UND_ERR_BODY_TIMEOUT' })
  }
  const timedOut = await failure(slow())
  t.ok(timedOut.error instanceof NemoError && timedOut.error.kind === 'stream_silent' && timedOut.error.code === 'GW_ERR_UPSTREAM_TIMEOUT', 'a body timeout mid-stream is silence')
})
