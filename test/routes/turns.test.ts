// Chat turns end to end: a real gateway on a real port, a real simulator, every scenario of
// the upstream's stream, read through the gateway's SSE.
import t, { type Test } from 'tap'
import { buildGateway, type TestGateway } from '../helpers/app.ts'
import { readSse, waitFor, type SseFrame } from '../helpers/sse.ts'

const FAST_SIM = { stepDelayMs: 2, generationMs: 60, heartbeatIntervalMs: 10 }
const FAST_TURNS = { TURN_RECOVERY_POLL_MS: 40, HEARTBEAT_EVENT_INTERVAL_MS: 0 }

async function setup (t: Test, opts: { sim?: Record<string, unknown>, config?: Record<string, string | number | boolean>, registered?: boolean } = {}) {
  const gw = await buildGateway(t, { contract: true, sim: { ...FAST_SIM, ...opts.sim }, config: { ...FAST_TURNS, ...opts.config } })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const address = gw.app.server.address()
  const base = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : ''
  const acme = await gw.tenant('acme', opts.registered ? { tokenMode: 'registered' } : {})
  if (opts.registered) {
    // an anonymous token's 100 credits do not pay for a two-stage generation
    const { token } = await gw.sim.control('POST', 'tokens', { credits: 10_000 }) as { token: string }
    gw.secret(token)
    await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token } })
  }
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const headers = { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
  return { gw, base, acme, session, headers }
}

const ended = (f: SseFrame) => f.event === 'turn.completed' || f.event === 'turn.failed'

async function turn (ctx: { base: string, session: { id: string }, headers: Record<string, string> }, text: string) {
  const res = await readSse(`${ctx.base}/v1/sessions/${ctx.session.id}/turns`, { method: 'POST', headers: ctx.headers, body: { text }, until: ended })
  return { ...res, types: res.frames.map(f => f.event) }
}

async function streamsClosed (gw: TestGateway, t: Test) {
  const counters = await waitFor(async () => await gw.sim.counters(), c => c.openStreams === 0)
  t.equal(counters.openStreams, 0, 'the upstream stream was released')
}

t.test('credits run out: the turn fails with the upstream\'s hint', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:two-stage] generate a video with music and a title')
  t.equal(res.types.at(-1), 'turn.failed')
  t.equal(res.frames.at(-1)!.json.payload.error.code, 'GW_ERR_CREDITS_EXHAUSTED')
  t.match(res.frames.at(-1)!.json.payload.error.hint, /register\?bind=anon_/)
  await streamsClosed(ctx.gw, t)
})

t.test('text only', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:text] hello there')
  t.equal(res.status, 200)
  t.equal(res.types[0], 'turn.started')
  t.ok(res.types.includes('text'))
  t.equal(res.types.at(-1), 'turn.completed')
  t.equal(res.frames.at(-1)!.json.payload.status, 'completed')
  t.ok(res.frames.every(f => /^\d+$/.test(f.id ?? '')), 'every frame carries its cursor')
  await streamsClosed(ctx.gw, t)
  const metrics = await ctx.gw.app.inject({ method: 'GET', url: '/metrics' })
  t.equal(metrics.statusCode, 200)
  t.match(metrics.body, /gateway_turns_total\{status="completed"[^}]*\} \d+/, 'turns are counted in /metrics')
  t.match(metrics.body, /gateway_session_events_total\{type="turn.started"[^}]*\} \d+/)
})

for (const framing of ['adk', 'typed'] as const) {
  t.test(`generation with heartbeats (${framing} framing), GUI text annotated`, async (t) => {
    const ctx = await setup(t, { sim: { framing } })
    const res = await turn(ctx, '[scenario:generation] generate a city timelapse')
    for (const type of ['turn.started', 'tool.started', 'heartbeat', 'tool.finished', 'text', 'state.changed', 'turn.completed']) {
      t.ok(res.types.includes(type), `has ${type}`)
    }
    const texts = res.frames.filter(f => f.event === 'text')
    const actions = texts.flatMap(f => f.json.payload.actions ?? []).map((a: { action: string }) => a.action)
    t.ok(actions.includes('start_export'), '"click Export" is annotated with the API action')
    const changed = res.frames.find(f => f.event === 'state.changed')!
    t.match(changed.json.payload.summary, /video/i)
    await streamsClosed(ctx.gw, t)
  })
}

t.test('two-stage generation reports both stages and a 3-track summary', async (t) => {
  const ctx = await setup(t, { registered: true })
  const res = await turn(ctx, '[scenario:two-stage] generate a video with music and a title')
  t.equal(res.frames.filter(f => f.event === 'tool.started').length, 2)
  const state = await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/state` })
  t.equal(state.statusCode, 200)
  t.match(state.json().summary, /^Timeline \(3 tracks\): 1\. Video: .+ \(0-\d+s\) 2\. BGM: .+ \(0-\d+s, \d+%\) 3\. Title: "Urban Dreams" \(0-3s\)$/)
  t.equal(state.json().exportable, true)
  await streamsClosed(ctx.gw, t)
})

t.test('a silent edit yields state.changed naming what changed', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:silent-edit] add a title')
  t.notOk(res.types.includes('text'), 'the upstream said nothing')
  const changed = res.frames.find(f => f.event === 'state.changed')
  t.ok(changed, 'but the gateway says what changed')
  t.match(changed!.json.payload.summary, /title/i)
  t.match(changed!.json.payload.summary, /Urban Dreams/)
  t.equal(res.frames.at(-1)!.json.payload.status, 'silent')
  await streamsClosed(ctx.gw, t)
})

t.test('a trailing "temporary issue" after a normal answer is a notice, not a failure', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:temporary-issue] hello')
  t.ok(res.types.includes('notice'))
  t.equal(res.types.at(-1), 'turn.completed')
  t.notMatch(res.frames.at(-1)!.json.payload.reply, /temporary issue/)
  await streamsClosed(ctx.gw, t)
})

t.test('an error frame fails the turn', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:error] hello')
  t.equal(res.types.at(-1), 'turn.failed')
  t.ok(res.types.includes('upstream.error'))
  await streamsClosed(ctx.gw, t)
})

t.test('ask_question is surfaced as a question', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:ask-question] make me a video')
  const q = res.frames.find(f => f.event === 'question')
  t.ok(q)
  t.ok(Array.isArray(q!.json.payload.questions) && q!.json.payload.questions.length > 0)
  t.equal(res.types.at(-1), 'turn.completed')
  await streamsClosed(ctx.gw, t)
})

t.test('an unchanged timeline is not reported as changed after it went through the database', async (t) => {
  const ctx = await setup(t)
  const first = await turn(ctx, '[scenario:silent-edit] add a title')
  t.ok(first.types.includes('state.changed'), 'the first edit is a change')
  // the snapshot is now stored as jsonb, which reorders the keys of every segment
  for (const text of ['[scenario:ask-question] make me a video', '[scenario:ask-question] and another']) {
    const res = await turn(ctx, text)
    t.notOk(res.types.includes('state.changed'), `${text}: nothing changed, nothing reported`)
    t.equal(res.types.at(-1), 'turn.completed')
  }
  await streamsClosed(ctx.gw, t)
})

t.test('a heartbeat-only turn after a recovered one finds nothing changed and fails, not "completed"', async (t) => {
  // 7 polls (10 ms, doubling: 1.27 s in all) leave a loaded machine time to commit the first turn's work
  const ctx = await setup(t, { config: { TURN_HEARTBEAT_ONLY_MS: 150, TURN_RECOVERY_POLL_MS: 10, TURN_RECOVERY_POLLS: 7 } })
  const first = await turn(ctx, '[scenario:disconnect] generate a video')
  t.equal(first.types.at(-1), 'turn.completed', 'the disconnected turn was recovered')
  await ctx.gw.sim.configure({ generationMs: 3000 })
  const res = await turn(ctx, '[scenario:heartbeat-only] hello')
  t.notOk(res.types.includes('state.changed'), 'an identical timeline is no change')
  t.equal(res.types.at(-1), 'turn.failed')
  t.equal(res.frames.at(-1)!.json.payload.error.reason, 'heartbeat_only')
  await streamsClosed(ctx.gw, t)
})

t.test('a mid-stream disconnect is recovered by polling the state', async (t) => {
  const ctx = await setup(t)
  const res = await turn(ctx, '[scenario:disconnect] generate a video')
  t.ok(res.types.includes('turn.recovering'))
  const changed = res.frames.find(f => f.event === 'state.changed')
  t.ok(changed, 'the work was found in the state')
  t.equal(changed!.json.payload.recovered, true)
  t.equal(res.types.at(-1), 'turn.completed')
  await streamsClosed(ctx.gw, t)
})

t.test('heartbeats only: recovery gives up after the unchanged polls', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 3000 }, config: { TURN_HEARTBEAT_ONLY_MS: 150, TURN_RECOVERY_POLL_MS: 10, TURN_RECOVERY_POLLS: 3 } })
  const res = await turn(ctx, '[scenario:heartbeat-only] hello')
  t.ok(res.types.includes('turn.recovering'))
  t.equal(res.types.at(-1), 'turn.failed')
  t.equal(res.frames.at(-1)!.json.payload.error.reason, 'heartbeat_only')
  await streamsClosed(ctx.gw, t)
})

t.test('one running turn per session; a caller who leaves does not cancel the turn', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 400 } })
  // leave right after the first event
  const first = await readSse(`${ctx.base}/v1/sessions/${ctx.session.id}/turns`, {
    method: 'POST', headers: ctx.headers, body: { text: '[scenario:generation] generate' }, until: () => true
  })
  t.equal(first.frames[0]!.event, 'turn.started')
  const turnId = first.frames[0]!.json.payload.turnId
  const second = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'again' } })
  t.equal(second.statusCode, 409)
  t.equal(second.json().code, 'GW_ERR_TURN_IN_PROGRESS')
  const done = await waitFor(async () => (await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/turns/${turnId}` })).json(), v => v.status !== 'running')
  t.equal(done.status, 'completed', 'the turn ran to the end without its caller')
  t.ok(done.reply)
  await streamsClosed(ctx.gw, t)
  const third = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: '[scenario:text] hi' } })
  t.equal(third.statusCode, 202, 'the next turn is accepted once the first ended')
  t.equal(third.json().status, 'running')
  await waitFor(async () => (await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/turns/${third.json().id}` })).json(), v => v.status !== 'running')
  const list = await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/turns` })
  t.equal(list.json().items.length, 2)
})

t.test('the event log: JSON pages, SSE replay then live, Last-Event-ID resumes exactly once', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 300 } })
  const url = `${ctx.base}/v1/sessions/${ctx.session.id}/events`
  const started = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: '[scenario:generation] go' } })
  t.equal(started.statusCode, 202)
  // a subscriber reads three events, disconnects, and resumes with its last cursor
  const part1 = await readSse(url, { headers: ctx.headers, until: (_f, all) => all.length === 3 })
  const lastId = part1.frames.at(-1)!.id!
  const part2 = await readSse(url, { headers: { ...ctx.headers, 'last-event-id': lastId }, until: ended })
  const seen = [...part1.frames, ...part2.frames].map(f => f.id)
  const log = (await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/events?limit=1000` })).json().items.map((e: { cursor: string }) => e.cursor)
  t.same(seen, log, 'every event exactly once, in order')
  const page = await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/events?after=${log[1]}&limit=2` })
  t.same(page.json().items.map((e: { cursor: string }) => e.cursor), log.slice(2, 4))
  await streamsClosed(ctx.gw, t)
})

t.test('say routes by keyword', async (t) => {
  const ctx = await setup(t)
  const say = async (text: string) => (await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/say`, payload: { text } })).json()
  t.equal((await say('how many credits do I have?')).action, 'credits')
  t.equal((await say('还有多少积分')).action, 'credits')
  const state = await say('show tracks')
  t.equal(state.action, 'state')
  t.match(state.message, /^Timeline/)
  t.equal((await say('how do I upload my clip?')).action, 'upload')
  // "export" on an empty timeline is refused with the reason (starting exports: test/routes/exports.test.ts)
  const exp = await say('export it please')
  t.equal(exp.code, 'GW_ERR_NOTHING_TO_EXPORT')
  t.match(exp.detail, /Nothing to export yet/)
  const chat = await say('[scenario:text] make it brighter')
  t.equal(chat.action, 'chat')
  await waitFor(async () => (await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/turns/${chat.turn.id}` })).json(), v => v.status !== 'running')
  await streamsClosed(ctx.gw, t)
})

t.test('turns and events of another tenant are 404', async (t) => {
  const ctx = await setup(t)
  const other = await ctx.gw.tenant('other')
  for (const url of [`/v1/sessions/${ctx.session.id}/turns`, `/v1/sessions/${ctx.session.id}/events`, `/v1/sessions/${ctx.session.id}/state`]) {
    const res = await other.as('alice', { method: 'GET', url })
    t.equal(res.statusCode, 404, url)
  }
  const post = await other.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'hi' } })
  t.equal(post.statusCode, 404)
  t.equal((await ctx.gw.sim.counters()).requests['run-sse'] ?? 0, 0, 'nothing reached the upstream')
})

t.test('a running turn: its session answers another user 404 (never a 409 naming the turn), its owner 409 however the id is spelled', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 3000 } })
  const running = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: '[scenario:generation] a long one' } })
  t.equal(running.statusCode, 202)
  const foreign = await ctx.acme.as('bob', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'hi' } })
  t.equal(foreign.statusCode, 404)
  t.notMatch(foreign.body, running.json().id)
  const [again, upper] = await Promise.all([
    ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'hi' } }),
    ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id.toUpperCase()}/turns`, payload: { text: 'hi' } })
  ])
  t.same([again.statusCode, upper.statusCode], [409, 409])
  t.equal(upper.json().turnId, running.json().id)
})

t.test('what turns cost is the tenant\'s spend; a used-up budget refuses new turns', async (t) => {
  const ctx = await setup(t, { registered: true })
  await ctx.gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${ctx.acme.id}`, payload: { creditBudget: 120 } })
  const first = await turn(ctx, '[scenario:generation] a city')
  t.equal(first.types.at(-1), 'turn.completed')
  const credits = await waitFor(async () => (await ctx.acme.as('bob', { method: 'GET', url: '/v1/credits' })).json(), c => c.budget.spent > 0)
  t.equal(credits.budget.spent, 10_000 - credits.available, 'spend equals what the upstream balance dropped by')
  t.equal(credits.budget.limit, 120)
  const second = await turn(ctx, '[scenario:generation] another city')
  t.equal(second.types.at(-1), 'turn.completed', 'still within the budget')
  const refused = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'one more' } })
  t.equal(refused.statusCode, 402)
  t.equal(refused.json().code, 'GW_ERR_BUDGET_EXCEEDED')
  const foreign = await ctx.acme.as('bob', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'not mine' } })
  t.equal(foreign.statusCode, 404, 'another user\'s session answers 404 before the budget\'s 402')
  const after = (await ctx.acme.as('alice', { method: 'GET', url: '/v1/credits' })).json()
  t.equal(after.budget.exceeded, true)
  await streamsClosed(ctx.gw, t)
})

t.test('a turn\'s cost is counted before the tenant\'s next turn is weighed against its budget, however slow the balance read', async (t) => {
  const ctx = await setup(t, { registered: true })
  await ctx.gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${ctx.acme.id}`, payload: { creditBudget: 1 } })
  // the balance read after the turn (what it cost) answers late: the turn's end does not wait
  // for it, but the tenant's next budget check on this instance must
  await ctx.gw.sim.fault({ endpoint: 'credits', delayMs: 1500, count: 1 })
  const first = await turn(ctx, '[scenario:generation] a city')
  t.equal(first.types.at(-1), 'turn.completed')
  const next = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: 'right away' } })
  t.equal(next.statusCode, 402, 'refused: the first turn\'s cost was counted before the check')
  t.equal(next.json().code, 'GW_ERR_BUDGET_EXCEEDED')
  t.ok(next.json().spent >= 1, 'the refusal names what was spent')
  t.equal((await ctx.gw.sim.counters()).requests['run-sse'], 1, 'the second turn never reached the upstream')
  await streamsClosed(ctx.gw, t)
})

t.test('without a budget, the next turn does not wait for the last one\'s balance read', async (t) => {
  const ctx = await setup(t, { registered: true })
  await ctx.gw.sim.fault({ endpoint: 'credits', delayMs: 6000, count: 1 })
  const first = await turn(ctx, '[scenario:text] hello')
  t.equal(first.types.at(-1), 'turn.completed')
  const began = Date.now()
  const next = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: '[scenario:text] right away' } })
  t.equal(next.statusCode, 202)
  t.ok(Date.now() - began < 4500, `accepted while the first turn's balance read was still out (${Date.now() - began} ms; it answers after 6 s)`)
})

t.test('turns ending together on a shared token share its balance reads, and their spend is counted once, in full', async (t) => {
  const ctx = await setup(t, { registered: true })
  const users = ['u1', 'u2', 'u3', 'u4', 'u5', 'u6', 'u7', 'u8']
  const sessions = await Promise.all(users.map(async (u) => (await ctx.acme.as(u, { method: 'POST', url: '/v1/sessions', payload: {} })).json().id as string))
  const before = (await ctx.gw.sim.counters()).requests.credits ?? 0
  // the first balance read answers late, with the balance as it was when it was sent (one
  // generation, 100 credits, paid): the turns that end meanwhile must not take its answer
  // for theirs, but wait for the next read
  await ctx.gw.sim.fault({ endpoint: 'credits', delayMs: 400, count: 1, body: { code: 0, message: 'success', data: { available: 9_900, frozen: 0, total: 9_900 } } })
  const ends = await Promise.all(users.map(async (u, i) => {
    const res = await readSse(`${ctx.base}/v1/sessions/${sessions[i]}/turns`, { method: 'POST', headers: { ...ctx.headers, 'x-user-id': u }, body: { text: '[scenario:generation] a city' }, until: ended })
    return res.frames.at(-1)?.event
  }))
  t.same(ends, users.map(() => 'turn.completed'))
  const prisma = ctx.gw.app.prisma
  const counted = async () => {
    const tenant = await prisma.tenant.findUniqueOrThrow({ where: { id: ctx.acme.id } })
    const usage = await prisma.usageDaily.findMany({ where: { tenantId: ctx.acme.id } })
    return { spent: tenant.creditsSpent, byUsers: usage.reduce((n, u) => n + u.creditsSpent, 0), users: usage.filter((u) => u.creditsSpent > 0).length }
  }
  // a generation costs 100 credits (the simulator's scenario): 8 of them, counted once each
  const final = await waitFor(counted, (c) => c.spent >= 800, 10_000)
  await new Promise((resolve) => setTimeout(resolve, 300))
  t.same(await counted(), final, 'nothing more is counted later')
  t.equal(final.spent, 800, 'the tenant\'s spend is what the shared balance dropped by, 8 x 100')
  t.equal(final.byUsers, 800, 'its users\' usage adds up to the same')
  // the late read stood for the first turn to end (100 credits); the next for the turns that
  // ended while it was out, its 700 split between them: every user has a share
  t.equal(final.users, 8, 'the drop is split between the turns that waited for one read, not all given to one user')
  const reads = ((await ctx.gw.sim.counters()).requests.credits ?? 0) - before
  t.ok(reads <= 3, `8 turns ended, ${reads} balance reads (the first held 400 ms; the turns that ended meanwhile shared the next)`)
  const balance = (await ctx.acme.as('u1', { method: 'GET', url: '/v1/credits' })).json()
  t.equal(balance.available, 10_000 - 800)
})

t.test('a turn\'s cost is read after its end, not from a balance read sent before it; a late answer to that older read counts nothing', async (t) => {
  const ctx = await setup(t, { registered: true, config: { CREDITS_CACHE_TTL_MS: 0 } })
  // a dashboard's balance read goes out before the turn ends and answers 1.5 s later, with the
  // balance as it was when it was sent (before the generation's 100 credits)
  await ctx.gw.sim.fault({ endpoint: 'credits', delayMs: 1500, count: 1, body: { code: 0, message: 'success', data: { available: 10_000, frozen: 0, total: 10_000 } } })
  let dashboardAnswered = false
  const dashboard = ctx.acme.as('bob', { method: 'GET', url: '/v1/credits' }).then((res) => { dashboardAnswered = true; return res })
  await new Promise((resolve) => setTimeout(resolve, 100))
  const first = await turn(ctx, '[scenario:generation] a city')
  t.equal(first.types.at(-1), 'turn.completed')
  const spent = async () => (await ctx.gw.app.prisma.tenant.findUniqueOrThrow({ where: { id: ctx.acme.id } })).creditsSpent
  t.equal(await waitFor(spent, (n) => n === 100, 1200), 100, 'the turn\'s 100 credits are counted from a read of its own')
  t.equal(dashboardAnswered, false, '... while the older read was still out')
  const late = await dashboard
  t.equal(late.statusCode, 200)
  t.equal(late.json().available, 9_900, 'the late answer shows the newest balance known, not its own older one')
  // the older answer (10,000) came after the newer one (9,900): it must not undo it, or the
  // next read would count the same 100 credits again
  t.equal((await ctx.acme.as('bob', { method: 'GET', url: '/v1/credits' })).json().available, 9_900)
  await new Promise((resolve) => setTimeout(resolve, 200))
  t.equal(await spent(), 100, 'counted once')
})

t.test('closing the gateway ends its open event streams', async (t) => {
  const ctx = await setup(t)
  const reading = readSse(`${ctx.base}/v1/sessions/${ctx.session.id}/events`, { headers: ctx.headers })
  await new Promise(resolve => setTimeout(resolve, 200))
  const began = Date.now()
  await ctx.gw.app.close()
  const res = await reading
  t.equal(res.status, 200)
  t.ok(Date.now() - began < 5000, 'close() did not wait for the stream')
})

t.test('a turn that outlives its lease is renewed by its live instance, not closed', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 1500 }, config: { TURN_LEASE_MS: 400 } })
  const res = await turn(ctx, '[scenario:generation] a slow city')
  t.equal(res.types.at(-1), 'turn.completed', 'not closed as interrupted while it ran')
  t.equal(res.types.filter((x) => x === 'turn.failed').length, 0)
  await streamsClosed(ctx.gw, t)
})

t.test('a turn closed as interrupted while its instance still runs it: the run stops, nothing overwrites the close', async (t) => {
  const ctx = await setup(t, { sim: { generationMs: 30_000 }, config: { TURN_LEASE_MS: 2000 } })
  const prisma = ctx.gw.app.prisma
  const started = await ctx.acme.as('alice', { method: 'POST', url: `/v1/sessions/${ctx.session.id}/turns`, payload: { text: '[scenario:generation] slow' } })
  const turnId = started.json().id as string
  await waitFor(async () => await ctx.gw.sim.counters(), (c) => c.openStreams === 1)
  // as another instance would, had this one stopped renewing (a long pause, a lost database)
  await waitFor(async () => {
    await prisma.turn.update({ where: { id: turnId }, data: { leaseUntil: new Date(Date.now() - 1000) } })
    return await ctx.gw.app.domain.turns.sweepAbandoned()
  }, (n) => n === 1)
  await streamsClosed(ctx.gw, t)
  await waitFor(async () => ctx.gw.app.domain.turns.active, (n) => n === 0)
  const row = await prisma.turn.findUniqueOrThrow({ where: { id: turnId } })
  t.equal(row.status, 'failed')
  t.match(row.error, { reason: 'interrupted' })
  const ends = await prisma.sessionEvent.findMany({ where: { turnId, type: { in: ['turn.completed', 'turn.failed'] } } })
  t.same(ends.map((e) => e.type), ['turn.failed'], 'one end, told once')
})

t.test('a turn abandoned by a stopped instance is closed, and the session takes turns again', async (t) => {
  const ctx = await setup(t, { config: { TURN_TIMEOUT_MS: 1000 } })
  const prisma = ctx.gw.app.prisma
  const orphan = await prisma.turn.create({ data: { sessionId: ctx.session.id, text: 'lost', startedAt: new Date(Date.now() - 5 * 60_000) } })
  t.equal(await ctx.gw.app.domain.turns.sweepAbandoned(), 1)
  const row = await prisma.turn.findUniqueOrThrow({ where: { id: orphan.id } })
  t.equal(row.status, 'failed')
  t.match(row.error, { reason: 'interrupted' })
  const events = await prisma.sessionEvent.findMany({ where: { turnId: orphan.id } })
  t.same(events.map(e => e.type), ['turn.failed'], 'followers learn that it ended')
  t.match(events[0]!.payload, { turnId: orphan.id, status: 'failed', error: { reason: 'interrupted' } })
  const next = await turn(ctx, '[scenario:text] hello again')
  t.equal(next.types.at(-1), 'turn.completed')
  await streamsClosed(ctx.gw, t)
})
