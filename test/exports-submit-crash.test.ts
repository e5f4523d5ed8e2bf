// The submit window: the upstream has accepted a render, the gateway has not yet heard so (the
// simulator holds its answer), and the gateway process is killed with SIGKILL. Ten times, each
// with its own export and Idempotency-Key. After a restart on the same database every export
// completes with exactly one webhook, and retrying the original POST with its key returns that
// export (202), never a 409 for a request that no longer runs and never a second export.
import t from 'tap'
import { setTimeout as sleep } from 'node:timers/promises'
import { request } from 'undici'
import { FAST_EXPORTS, renderableSession } from './helpers/exports.ts'
import { startReceiver } from './helpers/receiver.ts'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway, type RunningGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

const KILLS = 10

t.test(`${KILLS} gateways killed inside the render submit window: every export completes once, a retry with its key returns it`, { timeout: 280_000 }, async (t) => {
  const sim = await startSimulator(t, { renderDurationMs: 500, stepDelayMs: 1, generationMs: 20, mintLimitPerIp: 1000 })
  const receiver = await startReceiver(t)
  const config = { ...FAST_EXPORTS, EXPORT_SUBMIT_TIMEOUT_MS: 4000 }
  const { env, adminToken } = await gatewayEnv(t, sim.url, Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])))
  const kill = async (g: RunningGateway) => { g.kill('SIGKILL'); await g.exit }
  let gw = startGateway(env)
  t.teardown(async () => { await kill(gw) })
  let base = await gw.url
  const call = jsonClient(() => base)
  const { as } = await adminTenant(call, adminToken)
  const endpoint = (await call('POST', '/v1/webhooks/endpoints', { url: receiver.url }, as)).json
  receiver.secrets.push(endpoint.secret)
  const tenantApi = {
    as: async (_user: string, o: any) => {
      const res = await call(o.method, o.url, o.payload, as)
      return { statusCode: res.status, json: () => res.json }
    }
  }
  const session = await renderableSession(tenantApi as any, 'alice')

  // every submit is accepted upstream at once and answered 3 s later
  await sim.configure({ renderAcceptDelayMs: 3000 })
  let answered = 0
  for (let i = 0; i < KILLS; i++) {
    const submitsBefore = (await sim.counters()).requests['render-submit'] ?? 0
    // the POST dies with its gateway: its answer never comes
    request(`${base}/v1/sessions/${session.id}/exports`, { method: 'POST', headers: { ...as, 'content-type': 'application/json', 'idempotency-key': `crash-${i}` }, body: '{}' })
      .then(async (res) => { answered++; await res.body.dump() }, () => {})
    await waitFor(async () => (await sim.counters()).requests['render-submit'] ?? 0, (n) => n > submitsBefore, 15_000)
    await sleep(50 + Math.floor(Math.random() * 500)) // somewhere inside the 3 s window
    await kill(gw)
    gw = startGateway(env)
    base = await gw.url
  }
  await sim.configure({ renderAcceptDelayMs: 0 })
  t.equal(answered, 0, 'every kill landed inside the submit window: no POST was answered')

  // the caller retries each original POST with its key: the export it started, not a 409
  const ids: string[] = []
  for (let i = 0; i < KILLS; i++) {
    const retry = await call('POST', `/v1/sessions/${session.id}/exports`, {}, { ...as, 'idempotency-key': `crash-${i}` })
    t.equal(retry.status, 202, `retry ${i} answered 202 (${retry.json?.code ?? retry.json?.status})`)
    ids.push(retry.json.id)
  }
  t.equal(new Set(ids).size, KILLS, 'one export per key')

  for (const id of ids) {
    const done = await waitFor(async () => (await call('GET', `/v1/exports/${id}`, undefined, as)).json, (e: any) => e?.status === 'completed' || e?.status === 'failed', 30_000)
    t.equal(done.status, 'completed', `export ${id} completed`)
  }
  await waitFor(async () => new Set(receiver.deliveries.map(d => d.json.data.exportId)), (got) => ids.every(id => got.has(id)), 60_000)
  await sleep(1000)
  // at least once: a kill that lands mid-delivery (of an export finished in an earlier cycle)
  // sends that message again after the restart, with the same webhook-id
  for (const id of ids) {
    const mine = receiver.deliveries.filter(d => d.json.data.exportId === id)
    t.same([...new Set(mine.map(d => d.json.type))], ['export.completed'], `export ${id}: export.completed only`)
    t.equal(new Set(mine.map(d => d.headers['webhook-id'])).size, 1, `export ${id}: one webhook-id (${mine.length} POSTs)`)
  }
  const all = (await call('GET', '/v1/exports?limit=100', undefined, as)).json.items
  t.equal(all.length, KILLS, 'no retry started a second export')
  t.equal((await sim.counters()).requests['render-submit'], KILLS, 'each render was submitted once: the restarts found it upstream')
  // a second retry after completion: the same export, completed
  const again = await call('POST', `/v1/sessions/${session.id}/exports`, {}, { ...as, 'idempotency-key': 'crash-0' })
  t.equal(again.json.id, ids[0])
  t.equal(again.json.status, 'completed')
})
