// Frames we must not drop or leak (contract §4.2, §4.3, §4.5): a thought never reaches the
// caller in either framing, and a frame whose `type` we do not know but that carries ADK
// `content.parts` is read as ADK rather than dropped.
import t from 'tap'
import { eventsFromData, type NemoEvent } from '../../src/nemo/events.ts'
import { parseNemoSse } from '../../src/nemo/sse.ts'
import { startSim } from '../simulator/helper.ts'

const THOUGHT = 'the user wants a title; call edit_multitrack'

const thoughts: Array<[string, unknown]> = [
  ['typed text flagged thought', { type: 'text', content: THOUGHT, thought: true }],
  ['typed chunk flagged thought', { type: 'chunk', text: THOUGHT, thought: true }],
  ['typed thought frame', { type: 'thought', content: THOUGHT }],
  ['typed thinking frame', { type: 'thinking', content: THOUGHT }],
  ['sibling thinking_start', { type: 'thinking_start' }],
  ['sibling thinking_chunk', { type: 'thinking_chunk', content: THOUGHT }],
  ['sibling thinking_end', { type: 'thinking_end' }],
  ['typed reasoning frame', { type: 'reasoning', text: THOUGHT }],
  ['ADK thought part', { content: { parts: [{ text: THOUGHT, thought: true }], role: 'model' }, author: 'nemo_agent' }],
  ['unknown type, ADK thought part', { type: 'agent_event', content: { parts: [{ text: THOUGHT, thought: true }], role: 'model' } }],
  ['typed text whose content is ADK with a thought', { type: 'text', content: { parts: [{ text: THOUGHT, thought: true }] } }]
]

t.test('a thought never reaches the caller, in any framing', async (t) => {
  for (const [name, frame] of thoughts) {
    const events = eventsFromData(JSON.stringify(frame))
    t.same(events, [], name)
    t.notOk(JSON.stringify(events).includes(THOUGHT), `${name}: no thought text leaks`)
  }
})

const adkUnderUnknownType: Array<[string, unknown, NemoEvent[]]> = [
  ['unknown type with a text part', { type: 'event', content: { parts: [{ text: 'Done!' }], role: 'model' }, author: 'nemo_agent' },
    [{ type: 'text', text: 'Done!', author: 'nemo_agent' }]],
  ['unknown type with a function call', { type: 'adk_event', content: { parts: [{ functionCall: { id: 'af-1', name: 'edit_multitrack', args: { a: 1 } } }], role: 'model' } },
    [{ type: 'tool_call', name: 'edit_multitrack', id: 'af-1', args: { a: 1 } }]],
  ['unknown type with a function response', { type: 'model_response', content: { parts: [{ functionResponse: { id: 'af-1', name: 'edit_multitrack', response: { ok: true } } }], role: 'user' } },
    [{ type: 'tool_result', name: 'edit_multitrack', id: 'af-1', result: { ok: true } }]],
  ['unknown type, thought then text', { type: 'message', content: { parts: [{ text: THOUGHT, thought: true }, { text: 'Hello' }] } },
    [{ type: 'text', text: 'Hello' }]],
  ['typed text whose content is ADK', { type: 'text', content: { parts: [{ text: 'Hi' }] } },
    [{ type: 'text', text: 'Hi' }]],
  ['unknown type without ADK content is dropped', { type: 'usage', tokens: 12 }, []],
  ['typed text still works', { type: 'text', content: 'plain' }, [{ type: 'text', text: 'plain' }]],
  ['typed text with thought false is text', { type: 'text', content: 'shown', thought: false }, [{ type: 'text', text: 'shown' }]]
]

t.test('an unknown type carrying ADK content.parts is read as ADK', async (t) => {
  for (const [name, frame, expected] of adkUnderUnknownType) t.same(eventsFromData(JSON.stringify(frame)), expected, name)
})

t.test('the simulator\'s typed thought frames never reach the caller', async (t) => {
  const sim = await startSim(t, { framing: 'typed' })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await sim.sse(token, sid, '[scenario:thought] hello')
  t.match(res.text, /"thought":true/, 'the simulator sends the thought, flagged')
  const events: NemoEvent[] = []
  for await (const e of parseNemoSse(res.text)) events.push(e)
  const texts = events.filter((e) => e.type === 'text').map((e) => (e as { text: string }).text)
  t.equal(texts.length, 1)
  t.notOk(texts.some((x) => x.includes('no tool is needed')), 'the thought is not a text event')
})
