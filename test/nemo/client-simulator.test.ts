// Every NemoClient method against the simulator on a real port: the happy paths, both SSE
// framings and all heartbeat forms, the scripted scenarios, scripted faults through
// /__sim/faults, and proof via /__sim/counters that no upstream stream is left open.
import { setTimeout as sleep } from 'node:timers/promises'
import { Readable } from 'node:stream'
import type { AddressInfo } from 'node:net'
import t, { type Test } from 'tap'
import { buildSimulator } from '../../src/simulator/app.ts'
import { NemoClient } from '../../src/nemo/client.ts'
import { diffTimelines, isExportable, parseTimeline, summarize } from '../../src/nemo/draft.ts'
import { NemoError, type NemoErrorKind } from '../../src/nemo/errors.ts'
import type { NemoEvent } from '../../src/nemo/events.ts'
import { annotateGuiText } from '../../src/nemo/intents.ts'

interface Sim {
  url: string
  client: NemoClient
  control: (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<any>
  fault: (f: Record<string, unknown>) => Promise<void>
  configure: (c: Record<string, unknown>) => Promise<void>
  openStreams: () => Promise<number>
  /** A fresh anonymous user with a session. */
  user: () => Promise<{ token: string, userId: string, sessionId: string, taskId: string }>
}

let clients = 0

async function startSim (t: Test, opts: Record<string, unknown> = {}): Promise<Sim> {
  const app = await buildSimulator({ stepDelayMs: 0, generationMs: 60, heartbeatIntervalMs: 15, renderDurationMs: 150, ...opts })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const url = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`
  const client = new NemoClient({
    baseUrl: url,
    skill: { source: 'hd-local-ai', version: '1.9', platform: 'test' },
    connectTimeoutMs: 1000,
    headersTimeoutMs: 3000,
    bodyTimeoutMs: 3000,
    connections: 8,
    sseBodyTimeoutMs: 3000
  })
  t.teardown(async () => {
    await client.destroy()
    await app.close()
  })
  // The control plane is test-only and not the upstream, so plain fetch is fine here.
  const control = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => {
    const res = await fetch(url + path, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`)
    return await res.json()
  }
  const sim: Sim = {
    url,
    client,
    control,
    fault: async (f) => { await control('POST', '/__sim/faults', f) },
    configure: async (c) => { await control('POST', '/__sim/config', c) },
    openStreams: async () => (await control('GET', '/__sim/counters')).openStreams,
    user: async () => {
      const minted = await client.mintAnonymousToken(`client-${++clients}-${Date.now()}`)
      const session = await client.createSession(minted.token, { language: 'en' })
      return { token: minted.token, userId: minted.userId ?? '', sessionId: session.sessionId, taskId: session.taskId }
    }
  }
  return sim
}

async function collect (it: AsyncIterable<NemoEvent>): Promise<NemoEvent[]> {
  const out: NemoEvent[] = []
  for await (const ev of it) out.push(ev)
  return out
}

async function kindOf (p: Promise<unknown>): Promise<NemoErrorKind | string> {
  try {
    await p
  } catch (err) {
    return err instanceof NemoError ? err.kind : `not a NemoError: ${(err as Error).name}: ${(err as Error).message}`
  }
  return 'resolved'
}

async function streamsDrain (sim: Sim): Promise<number> {
  for (let i = 0; i < 50; i++) {
    const open = await sim.openStreams()
    if (open === 0) return 0
    await sleep(20)
  }
  return await sim.openStreams()
}

t.test('tokens, sessions, credits, claim and state', async (t) => {
  const sim = await startSim(t)
  const minted = await sim.client.mintAnonymousToken('client-a')
  t.match(minted, { token: /^nmv_usr_/, userId: /^anon_/, credits: 100 })
  t.ok(minted.expiresAt.getTime() > Date.now() + 6 * 24 * 3600 * 1000, 'expires in ~7 days')
  const auth = { token: minted.token, userId: minted.userId }
  const session = await sim.client.createSession(auth, { language: 'en' })
  t.match(session, { taskId: /^task_/, sessionId: /^\d+$/, userId: minted.userId })
  t.same(await sim.client.getCredits(auth), { available: 100, frozen: 0, total: 100 })
  const claim = await sim.client.claimToken(auth, session)
  t.match(claim, { claimToken: /^clm_/, expiresInSec: 604800 })
  t.equal(claim.claimUrl, `https://nemovideo.com/workspace/claim?ct=${claim.claimToken}`)
  const state = await sim.client.getState(auth, session.sessionId)
  t.match(state, { sessionId: session.sessionId, taskId: session.taskId, taskName: 'project' })
  t.same(state.state.videoInfos, [])
  t.equal(isExportable(state.state.draft), false)
})

t.test('a generation turn in ADK framing, then state, summary and diff', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  const before = parseTimeline((await sim.client.getState(u.token, u.sessionId)).state.draft)
  const events = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:generation] a city timelapse' }))
  const types = events.map((e) => e.type)
  t.equal(types[0], 'tool_call')
  t.match(events[0], { name: 'generate_video_with_seedance', id: /^adk-/, args: { prompt: 'a city timelapse' } })
  t.ok(types.includes('heartbeat'), 'heartbeats while generating')
  t.ok(types.includes('tool_result'))
  t.ok(types.includes('state_delta'))
  const text = events.filter((e) => e.type === 'text').map((e) => e.text).join('')
  t.match(text, /Click Export/)
  t.ok(annotateGuiText(text).some((a) => a.action === 'start_export'), 'GUI text is annotated')

  const state = await sim.client.getState(u.token, u.sessionId)
  t.equal(isExportable(state.state.draft), true)
  const after = parseTimeline(state.state.draft)
  t.match(summarize(after), /^Timeline \(1 track\): 1\. Video: gen_[0-9a-f]+\.mp4 \(0-10s\)$/)
  t.equal(diffTimelines(before, after).summary, 'Added video track 1; Changed duration 0s -> 10s')
  t.same(await sim.client.getCredits(u.token), { available: 0, frozen: 0, total: 0 }, '100 credits spent')
})

t.test('silent edit diff on a funded session', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:silent-edit] add a title' }))
  const draft = (await sim.client.getState(u.token, u.sessionId)).state.draft
  t.equal(summarize(parseTimeline(draft)), 'Timeline (1 track): 1. Title: "Urban Dreams" (0-3s)')
  t.equal(diffTimelines(parseTimeline(null), parseTimeline(draft)).changes[0]?.description, "Added title 'Urban Dreams' 0-3 s")
})

t.test('both framings and every heartbeat form', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  for (const framing of ['adk', 'typed']) {
    for (const heartbeat of ['comment', 'empty-data', 'typed']) {
      await sim.configure({ framing, heartbeat })
      const events = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:heartbeat-only] wait' }))
      t.ok(events.length >= 1 && events.every((e) => e.type === 'heartbeat'), `${framing}/${heartbeat}: heartbeats only (${events.length})`)
    }
    const reply = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:text] hi' }))
    t.match(reply, [{ type: 'text', text: /Happy to help/ }], `${framing}: text`)
    const asked = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:ask-question] ?' }))
    t.match(asked, [{ type: 'ask_question', questions: [{ id: 'aspect_ratio' }] }], `${framing}: ask_question`)
    const failed = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:error] x' }))
    t.match(failed, [{ type: 'error', message: /temporarily unavailable/ }], `${framing}: error frame`)
  }
})

t.test('scenarios: thought parts hidden, trailing temporary issue kept, mid-event disconnect', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  const thought = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:thought] hi' }))
  t.same(thought.map((e) => e.type), ['text'])
  t.notMatch(JSON.stringify(thought), /no tool is needed/, 'the thought is not shown')
  const temp = await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:temporary-issue] hi' }))
  t.match(temp, [{ type: 'text' }, { type: 'text', text: /temporary issue/ }])

  const seen: NemoEvent[] = []
  const broken = await kindOf((async () => {
    for await (const ev of sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:disconnect] make a video' })) seen.push(ev)
  })())
  t.equal(broken, 'stream_broken', 'a cut stream is an error, not a normal end')
  t.match(seen, [{ type: 'tool_call', name: 'generate_video_with_seedance' }])
  t.equal(await streamsDrain(sim), 0)
})

t.test('runSse releases the upstream stream on early stop and on abort', async (t) => {
  const sim = await startSim(t, { generationMs: 5000 })
  const u = await sim.user()
  const it = sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:heartbeat-only] wait' })
  t.same((await it.next()).value, { type: 'heartbeat' })
  t.equal(await sim.openStreams(), 1, 'the stream is open while iterating')
  await it.return()
  t.equal(await streamsDrain(sim), 0, 'early stop closes it')

  const ac = new AbortController()
  const aborted = collect((async function * () {
    for await (const ev of sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:heartbeat-only] wait', signal: ac.signal })) {
      yield ev
      ac.abort()
    }
  })())
  await t.rejects(aborted, { name: 'AbortError' })
  t.equal(await streamsDrain(sim), 0, 'abort closes it')

  const pre = new AbortController()
  pre.abort()
  await t.rejects(collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: 'x', signal: pre.signal })), { name: 'AbortError' })
  t.equal(await streamsDrain(sim), 0)
})

t.test('uploads: streamed files, by URL, 4001 and 4002', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  const big = Buffer.alloc(256 * 1024, 7)
  const files = await sim.client.uploadFiles(u.token, u.sessionId, [
    { filename: 'clip.mp4', contentType: 'video/mp4', stream: Readable.from([big.subarray(0, 1000), big.subarray(1000)]) },
    { filename: 'cover.png', contentType: 'image/png', stream: Readable.from([Buffer.from('png')]) }
  ])
  t.match(files, [
    { filename: 'clip.mp4', fileType: 'video', cdnUrl: /^https:\/\//, duration: Number, width: 1920, height: 1080, fps: 30, hash: /^[0-9a-f]{64}$/ },
    { filename: 'cover.png', fileType: 'image', width: 1920, height: 1080 }
  ])
  const uploads = await sim.control('GET', '/__sim/uploads')
  t.equal(uploads[0].size, big.length, 'every byte arrived')

  async function * generated (): AsyncGenerator<{ filename: string, contentType: string, stream: Readable }> {
    yield { filename: 'song.mp3', contentType: 'audio/mpeg', stream: Readable.from([Buffer.from('id3')]) }
  }
  t.match(await sim.client.uploadFiles(u.token, u.sessionId, generated()), [{ filename: 'song.mp3', fileType: 'audio' }], 'an async iterable of files')
  t.match(await sim.client.uploadUrls(u.token, u.sessionId, ['https://example.com/a/b.mov']), [{ filename: 'b.mov', fileType: 'video' }])

  t.equal(await kindOf(sim.client.uploadFiles(u.token, u.sessionId, [{ filename: 'notes.txt', contentType: 'text/plain', stream: Readable.from([Buffer.from('x')]) }])), 'unsupported_file')
  await sim.configure({ uploadMaxBytes: 1024 })
  t.equal(await kindOf(sim.client.uploadFiles(u.token, u.sessionId, [{ filename: 'big.mp4', contentType: 'video/mp4', stream: Readable.from([big]) }])), 'file_too_large')
  const state = await sim.client.getState(u.token, u.sessionId)
  t.equal(state.state.videoInfos.length, 4, 'rejected uploads leave no trace')
})

t.test('render: submit, poll in every shape, download, cancel', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  await collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:silent-edit] add a title' }))
  const { draft } = (await sim.client.getState(u.token, u.sessionId)).state
  for (const pollShape of ['A', 'B', 'both']) {
    await sim.configure({ pollShape })
    const id = `render_${pollShape}_${Date.now()}`
    t.same(await sim.client.submitRender(u.token, { id, sessionId: u.sessionId, draft }), { id, status: 'pending', progress: 5 })
    let status = await sim.client.getRender(u.token, id)
    t.match(status, { id, status: /^(pending|processing)$/ })
    while (status.status !== 'completed') {
      await sleep(30)
      status = await sim.client.getRender(u.token, id)
    }
    t.match(status, { id, status: 'completed', progress: 100, outputUrl: new RegExp(`/render-result/${id}\\.mp4$`) }, `shape ${pollShape}`)
  }
  const id = `render_dl_${Date.now()}`
  await sim.client.submitRender(u.token, { id, sessionId: u.sessionId, draft, output: { format: 'mp4', codec: 'h264', crf: 23 } })
  await sleep(200)
  const dl = await sim.client.downloadRender(u.token, id)
  t.equal(dl.contentType, 'video/mp4')
  const chunks: Buffer[] = []
  for await (const c of dl.stream) chunks.push(c as Buffer)
  t.equal(Buffer.concat(chunks).subarray(4, 8).toString(), 'ftyp', 'an MP4')
  t.equal(dl.contentLength, Buffer.concat(chunks).length)

  const slow = `render_cancel_${Date.now()}`
  await sim.configure({ renderDurationMs: 60000 })
  await sim.client.submitRender(u.token, { id: slow, sessionId: u.sessionId, draft })
  t.same(await sim.client.cancelRender(u.token, slow), { id: slow, status: 'canceled' })
  t.match(await sim.client.getRender(u.token, slow), { status: 'failed', error: 'cancelled' })

  t.equal(await kindOf(sim.client.submitRender(u.token, { id: slow, sessionId: u.sessionId, draft })), 'bad_request', 'duplicate id')
  t.match(await sim.client.getRender(u.token, (await sim.client.submitRender(u.token, { id: `bad_${Date.now()}`, sessionId: u.sessionId, draft: {} })).id), { status: /pending|processing|failed/ })
  t.equal(await kindOf(sim.client.getRender(u.token, 'render_unknown')), 'bad_request')
})

t.test('upstream states: expired token, forgotten session, empty wallet', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  await sim.control('PUT', '/__sim/credits', { token: u.token, available: 0 })
  const noCredits = sim.client.runSse({ token: u.token, userId: u.userId }, { sessionId: u.sessionId, text: '[scenario:generation] go' }).next()
  await t.rejects(noCredits, { kind: 'credits_exhausted', code: 'GW_ERR_CREDITS_EXHAUSTED', extensions: { hint: new RegExp(`register\\?bind=${u.userId}$`) } })

  await sim.control('POST', '/__sim/sessions/forget', { session_id: u.sessionId })
  t.equal(await kindOf(sim.client.runSse(u.token, { sessionId: u.sessionId, text: 'hi' }).next()), 'session_not_found', 'ADK 404 detail')
  t.equal(await kindOf(sim.client.getState(u.token, u.sessionId)), 'session_not_found', 'code 1002')

  await sim.control('POST', '/__sim/tokens/expire', { token: u.token })
  t.equal(await kindOf(sim.client.getCredits(u.token)), 'token_invalid')
  t.equal(await kindOf(sim.client.createSession('nmv_usr_bogus')), 'token_invalid')
  t.equal(await kindOf(sim.client.mintAnonymousToken('')), 'bad_request', 'missing X-Client-Id')
})

t.test('scripted faults on every endpoint map to the right kind', async (t) => {
  const sim = await startSim(t)
  const u = await sim.user()
  const renderId = `render_f_${Date.now()}`
  await sim.client.submitRender(u.token, { id: renderId, sessionId: u.sessionId, draft: { t: [{ tt: 0, sg: [{ src: 'x', st: 0, d: 1 }] }] } })
  const calls: Record<string, () => Promise<unknown>> = {
    'anonymous-token': () => sim.client.mintAnonymousToken(`fault-${Date.now()}`),
    'claim-token': () => sim.client.claimToken(u.token, u),
    'create-session': () => sim.client.createSession(u.token),
    'run-sse': () => collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: '[scenario:text] hi' })),
    upload: () => sim.client.uploadFiles(u.token, u.sessionId, [{ filename: 'a.mp4', contentType: 'video/mp4', stream: Readable.from([Buffer.alloc(10)]) }]),
    credits: () => sim.client.getCredits(u.token),
    state: () => sim.client.getState(u.token, u.sessionId),
    'render-submit': () => sim.client.submitRender(u.token, { id: `render_${Math.random()}`, sessionId: u.sessionId, draft: {} }),
    'render-poll': () => sim.client.getRender(u.token, renderId),
    'render-cancel': () => sim.client.cancelRender(u.token, renderId),
    download: () => sim.client.downloadRender(u.token, renderId)
  }
  const faults: Array<[Record<string, unknown>, NemoErrorKind]> = [
    [{ status: 500 }, 'unavailable'],
    [{ status: 503, body: '<html>upstream down</html>' }, 'unavailable'],
    [{ destroy: true }, 'unavailable'],
    [{ code: 1001, message: 'Invalid token' }, 'token_invalid'],
    [{ status: 401, code: 1011, message: 'token has been revoked' }, 'token_invalid'],
    [{ code: 1002 }, 'session_not_found'],
    [{ code: 2001 }, 'credits_exhausted'],
    [{ status: 402 }, 'plan_required'],
    [{ status: 429, headers: { 'retry-after': '7' } }, 'rate_limited'],
    [{ status: 422, body: { detail: [{ loc: ['body', 'x'], msg: 'Field required', type: 'missing' }] } }, 'bad_request'],
    [{ status: 200, body: 'not json at all' }, 'bad_response']
  ]
  for (const [endpoint, call] of Object.entries(calls)) {
    for (const [fault, kind] of faults) {
      // For download, a 200 that is not JSON is simply the file.
      if (endpoint === 'download' && kind === 'bad_response') continue
      await sim.fault({ endpoint, count: 1, ...fault })
      t.equal(await kindOf(call()), kind, `${endpoint} ${JSON.stringify(fault)}`)
    }
  }
  await sim.fault({ endpoint: 'credits', status: 429, headers: { 'retry-after': '7' } })
  const limited = await sim.client.getCredits(u.token).catch((err: unknown) => err)
  t.ok(limited instanceof NemoError && limited.kind === 'rate_limited')
  t.equal((limited as NemoError).retryAfterSec, 7)
  t.same((limited as NemoError).headers, { 'Retry-After': '7' })
  await sim.fault({ endpoint: 'run-sse', status: 404, body: { detail: 'Session not found: 1' } })
  t.equal(await kindOf(collect(sim.client.runSse(u.token, { sessionId: u.sessionId, text: 'x' }))), 'session_not_found')
  // undici runs headers/body timeouts on a coarse (~0.5-1 s) timer: the delay must exceed that.
  await sim.fault({ endpoint: 'credits', delayMs: 2500 })
  const impatient = new NemoClient({
    baseUrl: sim.url,
    skill: { source: 's', version: '1', platform: 'p' },
    connectTimeoutMs: 1000,
    headersTimeoutMs: 200,
    bodyTimeoutMs: 1000,
    connections: 1
  })
  t.teardown(() => impatient.destroy())
  t.equal(await kindOf(impatient.getCredits(u.token)), 'timeout', 'headers timeout')
  t.equal(await streamsDrain(sim), 0, 'nothing left open')
})
