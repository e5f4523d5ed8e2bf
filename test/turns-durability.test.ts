// Chat turns survive their gateway: a process killed with SIGKILL mid-turn leaves no session
// blocked. The restarted gateway closes the turn (failed, reason "interrupted") as soon as the
// dead instance's lease lapses, appends turn.failed for followers, and the session takes a
// new turn at once.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { testDatabase } from './helpers/database.ts'
import { startSimulator } from './helpers/simulator.ts'
import { startGateway, type RunningGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

t.test('a gateway killed with SIGKILL mid-turn: the turn is failed/interrupted within 10 s of the restart', { timeout: 120_000 }, async (t) => {
  const databaseUrl = await testDatabase(t)
  // a generation that runs far longer than the test: the kill lands mid-stream
  const sim = await startSimulator(t, { stepDelayMs: 2, generationMs: 120_000, heartbeatIntervalMs: 100, mintLimitPerIp: 1000 })
  const adminToken = 'admin-' + randomBytes(12).toString('hex')
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl,
    NEMO_BASE_URL: sim.url,
    ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ADMIN_TOKEN: adminToken,
    PORT: '0',
    LOG_LEVEL: 'info',
    FIRST_RUN_TENANT: 'false',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    RATE_LIMIT_MAX: '100000'
  }
  const kill = async (g: RunningGateway) => { g.kill('SIGKILL'); await g.exit }
  let gw = startGateway(env)
  t.teardown(async () => { await kill(gw) })
  let base = await gw.url
  const call = async (method: 'GET' | 'POST', path: string, body?: unknown, headers: Record<string, string> = {}) => {
    const res = await request(`${base}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
    return { status: res.statusCode, json: await res.body.json() as any }
  }
  const admin = { authorization: `Bearer ${adminToken}` }
  const tenant = (await call('POST', '/admin/v1/tenants', { name: 'acme' }, admin)).json
  const key = (await call('POST', `/admin/v1/tenants/${tenant.id}/keys`, { name: 'k' }, admin)).json.key
  const as = { authorization: `Bearer ${key}`, 'x-user-id': 'alice' }
  const session = (await call('POST', '/v1/sessions', {}, as)).json
  const started = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:generation] a long city timelapse' }, as)
  t.equal(started.status, 202)
  const turnId = started.json.id as string
  // kill once the upstream stream is open: the turn is running, nothing is cleaned up
  await waitFor(async () => await sim.counters(), (c) => c.openStreams >= 1)
  await kill(gw)

  gw = startGateway(env)
  base = await gw.url
  const restartedAt = Date.now()
  const events = `/v1/sessions/${session.id}/events?limit=100`
  const failed = await waitFor(async () => (await call('GET', events, undefined, as)).json.items as any[],
    (items: any[]) => items.some((e: any) => e.type === 'turn.failed' && e.turnId === turnId), 15_000)
  const seconds = (Date.now() - restartedAt) / 1000
  t.comment(`turn.failed ${seconds.toFixed(1)} s after the restart`)
  t.ok(seconds <= 10, `turn.failed within 10 s of the restart (${seconds.toFixed(1)} s)`)
  const event = failed.find((e: any) => e.type === 'turn.failed')
  t.equal(event.payload.status, 'failed')
  t.equal(event.payload.error.reason, 'interrupted')
  const turn = (await call('GET', `/v1/sessions/${session.id}/turns/${turnId}`, undefined, as)).json
  t.equal(turn.status, 'failed')
  t.equal(turn.error.reason, 'interrupted')
  t.ok(turn.finishedAt)

  await sim.configure({ generationMs: 50 })
  const next = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:text] hello again' }, as)
  t.equal(next.status, 202, 'the session takes a new turn at once')
})
