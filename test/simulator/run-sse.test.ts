import t from 'tap'
import { dataFrames, rawSse, startSim, until } from './helper.ts'

const ACTIONS = { stateDelta: {}, artifactDelta: {}, requestedAuthConfigs: {} }

t.test('request validation: 422 FastAPI detail, 404 Session not found, 1001', async (t) => {
  const sim = await startSim(t)
  const { token, user_id: userId } = await sim.anon()
  const sid = await sim.session(token)
  const message = { parts: [{ text: 'hi' }] }

  const noUser = await rawSse(sim.base, token, { app_name: 'nemo_agent', session_id: sid, new_message: message })
  t.equal(noUser.status, 422)
  t.match(JSON.parse(noUser.text), { detail: [{ type: 'missing', loc: ['body', 'user_id'], msg: 'Field required' }] })
  const empty = await sim.call('POST', '/run_sse', { token, headers: { 'content-type': 'application/json' } })
  t.equal(empty.status, 422, 'empty body')
  t.match(empty.body, { detail: [{ type: 'model_attributes_type', loc: ['body'] }] })
  const broken = await fetch(sim.base + '/run_sse', { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: '{oops' })
  t.equal(broken.status, 422)
  t.match(await broken.json(), { detail: [{ type: 'json_invalid' }] })

  const unknown = await sim.sse(token, '1111111111111111111', 'hi')
  t.equal(unknown.status, 404)
  t.same(JSON.parse(unknown.text), { detail: 'Session not found' })
  const other = await sim.anon()
  t.equal((await sim.sse(other.token, sid, 'hi')).status, 404, 'sessions belong to their user')
  t.equal((await sim.sse(token, sid, 'hi', { user_id: 'anon_someoneelse' })).status, 404)
  t.equal((await sim.sse(token, sid, 'hi', { user_id: userId })).status, 200, 'own user id works like "me"')
  t.equal((await sim.sse(token, sid, 'hi', { userId: 'me', user_id: undefined })).status, 200, 'camelCase aliases')

  const revoked = await rawSse(sim.base, 'nmv_usr_nope', { user_id: 'me', session_id: sid, new_message: message })
  t.equal(revoked.status, 401)
  t.equal(JSON.parse(revoked.text).code, 1001)

  await sim.call('POST', '/__sim/sessions/forget', { body: { session_id: sid } })
  t.equal((await sim.sse(token, sid, 'hi')).status, 404, 'forgotten upstream session')
})

t.test('text scenario: one ADK event exactly shaped like contract §4.3', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await sim.sse(token, sid, 'hello there')
  t.equal(res.status, 200)
  t.match(res.contentType, /^text\/event-stream/)
  t.ok(res.complete, 'closed cleanly')
  t.match(res.text, /^data: \{"content":\{"parts":\[\{"text":"[^"]+"\}\],"role":"model"\},"invocationId":"e-[0-9a-f-]{36}","author":"nemo_agent","actions":\{"stateDelta":\{\},"artifactDelta":\{\},"requestedAuthConfigs":\{\}\},"id":"[A-Za-z0-9]{8}","timestamp":\d+(\.\d+)?\}\n\n$/)
})

t.test('generation: call, heartbeats, role:user result, stateDelta-only event, GUI text; charges 100', async (t) => {
  const sim = await startSim(t, { generationMs: 40, heartbeatIntervalMs: 10 })
  const { token } = await sim.registered(1000)
  const sid = await sim.session(token)
  const res = await sim.sse(token, sid, 'Please generate a video of a rainy city')
  const frames = dataFrames(res.text)
  t.ok((res.text.match(/^: heartbeat$/gm) ?? []).length >= 2, 'comment heartbeats while generating')

  const [call, result, delta, text] = frames
  t.same(Object.keys(call), ['content', 'invocationId', 'author', 'actions', 'longRunningToolIds', 'id', 'timestamp'])
  t.same(Object.keys(call.content.parts[0].functionCall), ['id', 'args', 'name'])
  t.match(call.content.parts[0].functionCall, { id: /^adk-/, name: 'generate_video_with_seedance' })
  t.same(call.actions, ACTIONS)
  t.same(call.longRunningToolIds, [])
  t.equal(result.content.role, 'user')
  t.equal(result.author, 'nemo_agent')
  t.same(Object.keys(result), ['content', 'invocationId', 'author', 'actions', 'id', 'timestamp'])
  t.same(Object.keys(result.content.parts[0].functionResponse), ['id', 'name', 'response'])
  t.equal(result.content.parts[0].functionResponse.id, call.content.parts[0].functionCall.id)
  t.notOk('content' in delta, 'content-less event')
  t.same(delta.actions.stateDelta, { draft_version: 1 })
  t.match(text.content.parts[0].text, /Click Export to download/)
  t.match(text.content.parts[0].text, /点击导出/)
  t.equal(new Set(frames.map((f) => f.invocationId)).size, 1, 'one invocation')
  t.equal(new Set(frames.map((f) => f.id)).size, 4, 'distinct event ids')

  t.same((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data, { available: 900, frozen: 0, total: 900 })
  const state = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state
  t.match(state.draft.t, [{ tt: 0, sg: [{ src: /\.mp4$/, st: 0, d: 10000 }] }])
  t.equal(state.video_infos.length, 1)
  t.equal(state.generated_media.length, 1)
})

t.test('two-stage: generation then edit_multitrack adding BGM and title; charges 150', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.registered(1000)
  const sid = await sim.session(token)
  const frames = dataFrames((await sim.sse(token, sid, '[scenario:two-stage] go')).text)
  const names = frames.flatMap((f) => f.content?.parts ?? []).map((p: any) => p.functionCall?.name ?? p.functionResponse?.name ?? 'text')
  t.same(names, ['generate_video_with_seedance', 'generate_video_with_seedance', 'text', 'edit_multitrack', 'edit_multitrack', 'text'])
  const draft = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.draft
  t.same(draft.t.map((x: any) => x.tt), [0, 1, 7])
  t.equal(draft.m.title, 'Urban Dreams')
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data.available, 850)
})

t.test('silent edit: tool call and result, no text; title track 0-3 s; charges 50', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await sim.sse(token, sid, '[scenario:silent-edit] add a title')
  const frames = dataFrames(res.text)
  t.equal(frames.filter((f) => f.content?.parts?.some((p: any) => 'text' in p)).length, 0, 'no text at all')
  t.match(frames[0].content.parts[0].functionCall, { name: 'edit_multitrack' })
  t.equal(frames[1].content.role, 'user')
  t.ok(res.complete)
  const state = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state
  t.same(state.draft.t, [{ tt: 7, sg: [{ text: 'Urban Dreams', st: 0, d: 3000 }] }])
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data.available, 50)
})

t.test('keywords pick scenarios, deterministically per seed', async (t) => {
  const run = async () => {
    const sim = await startSim(t, { seed: 42 })
    const { token } = await sim.registered(100000)
    const sid = await sim.session(token)
    const kinds: string[] = []
    for (let i = 0; i < 12; i++) {
      const frames = dataFrames((await sim.sse(token, sid, 'add a title please')).text)
      kinds.push(frames.some((f) => f.content?.parts?.some((p: any) => 'text' in p)) ? 'edit' : 'silent')
    }
    const gen = dataFrames((await sim.sse(token, sid, 'create a video about cats')).text)
    t.equal(gen[0].content.parts[0].functionCall.name, 'generate_video_with_seedance')
    const chat = dataFrames((await sim.sse(token, sid, 'what can you do?')).text)
    t.equal(chat.length, 1)
    return kinds
  }
  const a = await run()
  t.same(await run(), a, 'same seed, same choices')
  t.ok(a.includes('silent') && a.includes('edit'), 'some edits are silent, some are not: ' + a.join(','))
})

t.test('scenario from config, temporary issue, thought, error, ask-question, heartbeat-only', async (t) => {
  const sim = await startSim(t, { generationMs: 25, heartbeatIntervalMs: 5 })
  const { token } = await sim.registered()
  const sid = await sim.session(token)

  await sim.call('POST', '/__sim/config', { body: { scenario: 'temporary-issue' } })
  const temp = dataFrames((await sim.sse(token, sid, 'hello')).text)
  t.equal(temp.length, 2)
  t.equal(temp[1].content.parts[0].text, 'I encountered a temporary issue. Please try again.')
  await sim.call('POST', '/__sim/config', { body: { scenario: null } })

  const thought = dataFrames((await sim.sse(token, sid, '[scenario:thought] hi')).text)
  t.match(thought[0].content.parts, [{ thought: true, text: String }, { text: String }])
  t.notOk('thought' in thought[0].content.parts[1])

  const error = await sim.sse(token, sid, '[scenario:error] hi')
  t.equal(error.status, 200)
  t.match(error.text, /^data: \{"error":"[^"]+"\}\n\n$/)

  const ask = dataFrames((await sim.sse(token, sid, '[scenario:ask-question] hi')).text)
  t.equal(ask.length, 1)
  const call = ask[0].content.parts[0].functionCall
  t.equal(call.name, 'ask_question')
  t.match(call.args, { questions: [{ id: String, prompt: String, options: [{ id: String, label: String }], allow_multiple: false }] })
  t.same(ask[0].longRunningToolIds, [call.id])

  const before = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state
  const hb = await sim.sse(token, sid, '[scenario:heartbeat-only] hi')
  t.equal(dataFrames(hb.text).length, 0)
  t.ok(hb.text.length > 0 && /^(: heartbeat\n\n)+$/.test(hb.text), 'only heartbeats')
  t.same((await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state, before, 'no change')
})

t.test('typed framing (§4.2) and each heartbeat form', async (t) => {
  const sim = await startSim(t, { framing: 'typed', heartbeat: 'typed', generationMs: 20, heartbeatIntervalMs: 5 })
  const { token } = await sim.registered()
  const sid = await sim.session(token)
  const gen = await sim.sse(token, sid, '[scenario:generation] go')
  const frames = dataFrames(gen.text)
  t.match(frames[0], { type: 'tool_call', name: 'generate_video_with_seedance', args: {} })
  t.match(frames.at(-2), { type: 'tool_result', name: 'generate_video_with_seedance', result: { status: 'success' } })
  t.match(frames.at(-1), { type: 'text', content: /Click Export/ })
  t.ok(frames.slice(1, -2).length > 0 && frames.slice(1, -2).every((f) => f.type === 'heartbeat'))
  t.notOk(frames.some((f) => 'invocationId' in f || 'actions' in f), 'no ADK fields, no stateDelta events')

  const thought = dataFrames((await sim.sse(token, sid, '[scenario:thought] hi')).text)
  t.same(thought.map((f) => [f.type, f.thought === true]), [['text', true], ['text', false]], 'a thought goes out flagged thought:true, for the client to hide')
  t.same(dataFrames((await sim.sse(token, sid, '[scenario:error] hi')).text)[0].type, 'error')

  await sim.call('POST', '/__sim/config', { body: { heartbeat: 'empty-data' } })
  const empty = await sim.sse(token, sid, '[scenario:heartbeat-only] x')
  t.match(empty.text, /^(data: \n\n)+$/)
  await sim.call('POST', '/__sim/config', { body: { heartbeat: 'comment', framing: 'adk' } })
  t.match((await sim.sse(token, sid, '[scenario:heartbeat-only] x')).text, /^(: heartbeat\n\n)+$/)
})

t.test('2001 when credits are short; text turns are free; a generation spends its 100', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  await sim.call('PUT', '/__sim/credits', { body: { token, available: 40 } })
  const short = await sim.call('POST', '/run_sse', { token, body: { user_id: 'me', session_id: sid, new_message: { parts: [{ text: '[scenario:silent-edit] x' }] } } })
  t.match(short.headers['content-type'], /application\/json/)
  t.same(short.body, { code: 2001, message: 'insufficient credits', data: null })
  t.equal((await sim.sse(token, sid, 'hello')).status, 200, 'text turns are free')

  // Frozen-while-running is checked in the abort test, where the run cannot end under our feet.
  await sim.call('PUT', '/__sim/credits', { body: { token, available: 100 } })
  await sim.sse(token, sid, '[scenario:generation] go')
  t.same((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data, { available: 0, frozen: 0, total: 0 })
})

t.test('client abort mid-stream: openStreams returns to 0 and frozen credits come back', async (t) => {
  const sim = await startSim(t, { generationMs: 10000, heartbeatIntervalMs: 20 })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const ac = new AbortController()
  const res = await fetch(sim.base + '/run_sse', {
    method: 'POST',
    signal: ac.signal,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({ user_id: 'me', session_id: sid, new_message: { parts: [{ text: '[scenario:generation] go' }] } })
  })
  const reader = res.body!.getReader()
  const first = new TextDecoder().decode((await reader.read()).value)
  t.match(first, /generate_video_with_seedance/)
  t.equal((await sim.counters()).openStreams, 1)
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data.frozen, 100)
  ac.abort()
  const after = await until(() => sim.counters(), (c) => c.openStreams === 0)
  t.equal(after.openStreams, 0)
  t.equal(after.requests['run-sse'], 1)
  t.same((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data, { available: 100, frozen: 0, total: 100 })
  t.same((await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.draft.t, [], 'nothing applied')
})

t.test('disconnect: half a data line then a dropped socket; the work still lands upstream', async (t) => {
  const sim = await startSim(t, { generationMs: 500 })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await sim.sse(token, sid, '[scenario:disconnect] make it')
  t.notOk(res.complete, 'connection dropped')
  const frames = res.text.split('\n\n')
  t.match(JSON.parse(frames[0]!.slice(6)).content.parts[0].functionCall.name, 'generate_video_with_seedance')
  const tail = frames.at(-1)!
  t.match(tail, /^data: \{/, 'a frame was started')
  t.throws(() => JSON.parse(tail.slice(6)), 'and cut in half')
  t.equal((await sim.counters()).openStreams, 0)

  const state = () => sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })
  t.same((await state()).body.data.state.draft.t, [], 'not yet')
  const later = await until(state, (r) => r.body.data.state.draft.t.length > 0)
  t.equal(later.body.data.state.draft.t[0].tt, 0)
  t.same((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data, { available: 0, frozen: 0, total: 0 })
})

t.test('burst (benchmarks): N text events, each saying the wall-clock ms it was written at', async (t) => {
  const sim = await startSim(t, { burstEvents: 3, stepDelayMs: 20 })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const before = performance.timeOrigin + performance.now()
  const res = await sim.sse(token, sid, '[scenario:burst] go')
  const after = performance.timeOrigin + performance.now()
  const sent = dataFrames(res.text).map((f) => Number(/^Part \d of 3, sent at ([\d.]+) ms$/.exec(f.content.parts[0].text)?.[1]))
  t.equal(sent.length, 3)
  t.ok(sent.every((ms, i) => ms >= before && ms <= after && (i === 0 || ms - sent[i - 1]! >= 15)), 'stamped when written, a step apart')
})
