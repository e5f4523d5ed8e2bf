// Exports survive their gateway: a process killed with SIGKILL mid-render is restarted and the
// export completes with exactly one export.completed message; two instances on one Postgres
// poll each render once.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { request } from 'undici'
import { buildGateway } from './helpers/app.ts'
import { testDatabase } from './helpers/database.ts'
import { FAST_EXPORTS, renderableSession, settled } from './helpers/exports.ts'
import { startReceiver } from './helpers/receiver.ts'
import { startSimulator } from './helpers/simulator.ts'
import { gatewayEnv, startGateway, type RunningGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

t.test('a gateway killed with SIGKILL mid-render resumes after a restart: one export.completed, delivered once', { timeout: 120_000 }, async (t) => {
  const sim = await startSimulator(t, { renderDurationMs: 4000, stepDelayMs: 1, generationMs: 20, mintLimitPerIp: 1000 })
  const receiver = await startReceiver(t)
  const { env, adminToken } = await gatewayEnv(t, sim.url, Object.fromEntries(Object.entries(FAST_EXPORTS).map(([k, v]) => [k, String(v)])))
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
  const endpoint = (await call('POST', '/v1/webhooks/endpoints', { url: receiver.url }, as)).json
  receiver.secrets.push(endpoint.secret)
  const tenantApi = {
    id: tenant.id,
    key,
    as: async (user: string, o: any) => {
      const res = await request(`${base}${o.url}`, { method: o.method, headers: { 'content-type': 'application/json', authorization: `Bearer ${key}`, 'x-user-id': user }, body: o.payload === undefined ? undefined : JSON.stringify(o.payload) })
      const text = await res.body.text()
      return { statusCode: res.statusCode, body: text, json: () => JSON.parse(text) }
    }
  }
  const session = await renderableSession(tenantApi as any, 'alice')
  // the first poll hangs upstream, so the kill below lands while the gateway holds its lease
  await sim.fault({ endpoint: 'render-poll', delayMs: 3000 })
  const started = (await call('POST', `/v1/sessions/${session.id}/exports`, {}, as)).json
  t.equal(started.status, 'rendering')
  // kill the process as soon as the upstream sees a poll: mid-poll, lease held, no cleanup
  await waitFor(async () => (await sim.counters()).requests['render-poll'] ?? 0, (n) => n >= 1)
  await kill(gw)
  t.equal(receiver.deliveries.length, 0, 'nothing was delivered before the crash')

  gw = startGateway(env)
  base = await gw.url
  // a poll lease left by the killed process lapses within 20 s
  const done = await settled(tenantApi as any, 'alice', started.id, 60_000)
  t.equal(done.status, 'completed', 'the restarted gateway finished the export')
  await receiver.waitFor(1)
  await new Promise(resolve => setTimeout(resolve, 1000))
  t.equal(receiver.deliveries.length, 1, 'delivered exactly once')
  t.equal(receiver.deliveries[0]!.json.data.exportId, started.id)
  t.equal(receiver.deliveries[0]!.json.data.downloadUrl, `${base}/v1/exports/${started.id}/download`, 'the link names the port really listened on')
  t.ok(receiver.deliveries[0]!.verifiedWith)
  const messages = (await call('GET', `/v1/webhooks/endpoints/${endpoint.id}/messages`, undefined, as)).json.items
  t.equal(messages.length, 1, 'one export.completed message')
})

t.test('two instances on one Postgres: every render is polled by one of them, every export finishes once', { timeout: 120_000 }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const ENCRYPTION_KEY = randomBytes(32).toString('hex')
  const a = await buildGateway(t, { databaseUrl, sim: { renderDurationMs: 1500, stepDelayMs: 1, generationMs: 20 }, config: { ...FAST_EXPORTS, ENCRYPTION_KEY } })
  const b = await buildGateway(t, { databaseUrl, config: { ...FAST_EXPORTS, ENCRYPTION_KEY, NEMO_BASE_URL: a.sim.url } })
  const acme = await a.tenant('acme')
  const receiver = await startReceiver(t)
  const ep = (await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url } })).json()
  receiver.secrets.push(ep.secret)
  a.secret(ep.secret)
  const session = await renderableSession(acme, 'alice')
  const ids: string[] = []
  for (let i = 0; i < 8; i++) {
    const gw = i % 2 === 0 ? a : b
    const res = await gw.app.inject({ method: 'POST', url: `/v1/sessions/${session.id}/exports`, headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' } })
    ids.push(res.json().id)
  }
  await receiver.waitFor(8, 30_000)
  for (const id of ids) t.equal((await settled(acme, 'alice', id)).status, 'completed')
  await new Promise(resolve => setTimeout(resolve, 500))
  t.equal(receiver.deliveries.length, 8, 'one delivery per export')
  t.equal(new Set(receiver.deliveries.map(d => d.json.data.exportId)).size, 8)
  const rows = await a.app.prisma.export.findMany({ select: { polls: true } })
  const polls = (await a.sim.counters()).requests['render-poll']
  t.equal(polls, rows.reduce((n, r) => n + r.polls, 0) + rows.length, 'every upstream poll is one the gateway counted')

  // both instances poll one render at the same moment, while the upstream is slow to answer:
  // the lease lets one through; the other waits for the lease instead of polling too
  await a.sim.configure({ renderDurationMs: 60_000 })
  const slow = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await a.sim.fault({ endpoint: 'render-poll', delayMs: 1000 })
  const before = (await a.sim.counters()).requests['render-poll']!
  const [pa, pb] = await Promise.all([a.app.domain.exports.poll(slow.id), b.app.domain.exports.poll(slow.id)])
  // (the export's own background poll may be the one holding the lease: then neither call polls)
  t.ok((await a.sim.counters()).requests['render-poll']! - before <= 1, 'at most one upstream poll for two instances')
  t.ok(Math.max(pa!, pb!) >= 15_000, 'the other instance looks again once the lease has lapsed')
})
