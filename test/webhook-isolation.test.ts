// One receiver cannot hold back another's webhooks. A trickling receiver (headers, then one byte
// a second for two minutes) and a hanging one (never answers) sit on other tenants' endpoints
// with more messages than their slots; a healthy endpoint's export.completed still arrives
// within 2 s of its export completing, and the slow attempts are cut at the deadline and logged
// as such. With two instances on one database, every attempt is one POST.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { buildGateway, type TestGateway, type TestTenant } from './helpers/app.ts'
import { testDatabase } from './helpers/database.ts'
import { FAST_EXPORTS, FAST_SIM, renderableSession, settled } from './helpers/exports.ts'
import { startReceiver } from './helpers/receiver.ts'
import { waitFor } from './helpers/sse.ts'

const DEADLINE_MS = 4000

interface SlowReceiver { url: string, posts: Array<{ id: string, at: number }> }

/** A receiver that holds every request: `trickle` sends 200 headers then 1 byte/s, `hang` never answers. */
async function slowReceiver (t: Test, how: 'trickle' | 'hang'): Promise<SlowReceiver> {
  const r: SlowReceiver = { url: '', posts: [] }
  const timers = new Set<NodeJS.Timeout>()
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    r.posts.push({ id: String(req.headers['webhook-id']), at: Date.now() })
    req.resume()
    if (how === 'hang') return
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.flushHeaders()
    let sent = 0
    const timer = setInterval(() => {
      if (++sent > 120 || res.destroyed) {
        clearInterval(timer)
        res.end()
        return
      }
      res.write('.')
    }, 1000)
    timers.add(timer)
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => {
    for (const timer of timers) clearInterval(timer)
    server.closeAllConnections()
    server.close(() => resolve())
  }))
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`
  return r
}

async function endpointFor (tenant: TestTenant, url: string): Promise<{ id: string, secret: string }> {
  const res = await tenant.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url } })
  if (res.statusCode !== 201) throw new Error(`endpoint: ${res.body}`)
  return res.json()
}

async function startExports (tenant: TestTenant, sessionId: string, n: number): Promise<string[]> {
  const ids: string[] = []
  for (let i = 0; i < n; i++) ids.push((await tenant.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/exports` })).json().id)
  return ids
}

async function scenario (t: Test, gateways: TestGateway[]): Promise<void> {
  const [gw] = gateways as [TestGateway]
  const trickle = await slowReceiver(t, 'trickle')
  const hang = await slowReceiver(t, 'hang')
  const healthy = await startReceiver(t)
  const slowco = await gw.tenant('slowco')
  const hangco = await gw.tenant('hangco')
  const acme = await gw.tenant('acme')
  await endpointFor(slowco, trickle.url)
  await endpointFor(hangco, hang.url)
  const ep = await endpointFor(acme, healthy.url)
  healthy.secrets.push(ep.secret)
  const sessions = await Promise.all([slowco, hangco, acme].map(async (tenant) => await renderableSession(tenant, 'alice')))

  // more slow messages than the slow endpoints have slots (WEBHOOK_ENDPOINT_CONCURRENCY = 4)
  const slowIds = [...await startExports(slowco, sessions[0]!.id, 6), ...await startExports(hangco, sessions[1]!.id, 6)]
  for (const id of slowIds.slice(0, 6)) await settled(slowco, 'alice', id)
  for (const id of slowIds.slice(6)) await settled(hangco, 'alice', id)
  await waitFor(async () => trickle.posts.length + hang.posts.length, (n) => n >= 8, 10_000)

  // the slow endpoints are busy now; healthy exports complete and are delivered at once
  const ids = await startExports(acme, sessions[2]!.id, 3)
  await healthy.waitFor(3, 10_000)
  for (const id of ids) {
    const done = await settled(acme, 'alice', id)
    const delivery = healthy.deliveries.find(d => d.json.data.exportId === id)!
    const lag = delivery.receivedAt - new Date(done.completedAt).getTime()
    t.ok(lag < 2000, `export ${id} delivered ${lag} ms after it completed`)
  }

  // the slow attempts end at their deadline, and say so
  await new Promise(resolve => setTimeout(resolve, DEADLINE_MS + 1500))
  const attempts = await gw.app.prisma.webhookAttempt.findMany({ include: { message: { include: { endpoint: true } } } })
  const slow = attempts.filter(a => a.message.endpoint.url !== healthy.url)
  t.ok(slow.length >= 8, `${slow.length} slow attempts recorded`)
  for (const a of slow) {
    t.match(a.error, /^deadline: /, `${a.message.endpoint.url === trickle.url ? 'trickling' : 'hanging'} attempt logged as cut at the deadline`)
    t.ok(a.latencyMs! >= DEADLINE_MS - 50 && a.latencyMs! < DEADLINE_MS + 3000, `cut at the deadline (${a.latencyMs} ms)`)
  }
  const trickled = slow.filter(a => a.message.endpoint.url === trickle.url)
  t.ok(trickled.length > 0 && trickled.every(a => a.statusCode === 200 && a.message.status === 'delivered' && a.message.attemptCount === 1),
    'a 2xx whose body never ends is still a delivery, not retried: the status decides')

  // one POST per attempt: no instance sent a message another was still sending
  for (const r of [trickle, hang]) {
    const byId = new Map<string, number>()
    for (const p of r.posts) byId.set(p.id, (byId.get(p.id) ?? 0) + 1)
    for (const [id, posts] of byId) {
      const messageId = id.replace(/^msg_/, '')
      const recorded = await gw.app.prisma.webhookAttempt.count({ where: { message: { id: messageId } } })
      const inFlight = (await gw.app.prisma.webhookMessage.findUnique({ where: { id: messageId } }))?.lockedUntil !== null ? 1 : 0
      t.ok(posts <= recorded + inFlight, `${id}: ${posts} POSTs for ${recorded} recorded attempts (+${inFlight} in flight)`)
    }
  }
}

const config = { ...FAST_EXPORTS, WEBHOOK_TIMEOUT_MS: DEADLINE_MS, WEBHOOK_ENDPOINT_CONCURRENCY: 4, WEBHOOK_RETRY_SCHEDULE: '1s,1s,1s,1s' }

t.test('one gateway: slow receivers fill their own slots, a healthy endpoint is delivered within 2 s', { timeout: 120_000 }, async (t) => {
  const gw = await buildGateway(t, { sim: FAST_SIM, config })
  await scenario(t, [gw])
})

t.test('two instances on one database: the same, and one POST per attempt', { timeout: 120_000 }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const ENCRYPTION_KEY = randomBytes(32).toString('hex')
  const a = await buildGateway(t, { databaseUrl, sim: FAST_SIM, config: { ...config, ENCRYPTION_KEY } })
  const b = await buildGateway(t, { databaseUrl, config: { ...config, ENCRYPTION_KEY, NEMO_BASE_URL: a.sim.url } })
  await scenario(t, [a, b])
})
