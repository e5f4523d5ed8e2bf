// Concurrent GraphQL startExport calls with one idempotencyKey all get the first call's
// outcome: its export, or its error. Before, the calls that came while the first was still
// submitting got the first call's queued export back; when the submit then failed, that export
// was deleted and their ids answered 404 (issue 18, item 3).
import t from 'tap'
import { exportSetup } from '../helpers/exports.ts'

const CALLS = 20

t.test('20 concurrent startExport calls with one key whose submit fails: every call gets that error', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  // the upstream takes its time, then refuses: every call arrives while the first is submitting
  await gw.sim.fault({ endpoint: 'render-submit', status: 402, delayMs: 500, count: 100 })
  const mutation = `mutation { startExport(sessionId: "${session.id}", idempotencyKey: "export-once") { id status } }`
  const results = await Promise.all(Array.from({ length: CALLS }, async () =>
    (await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: mutation } })).json()))

  const codes = results.map(r => r.errors?.[0]?.extensions?.code ?? `an export ${String(r.data?.startExport?.id)}`)
  t.same(codes, Array(CALLS).fill('GW_ERR_PLAN_REQUIRED'), 'every call answers the first call\'s error')
  t.equal((await gw.sim.counters()).requests['render-submit'], 1, 'one submit upstream, not one per call')
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/exports' })).json().items.length, 0, 'no export is left behind')
  const given = new Set(results.map(r => r.data?.startExport?.id).filter(id => id !== undefined))
  for (const id of given) {
    t.equal((await acme.as('alice', { method: 'GET', url: `/v1/exports/${String(id)}` })).statusCode, 200, `the export ${String(id)} given out exists`)
  }
})

t.test('20 concurrent startExport calls with one key whose submit succeeds: one export, one render', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  await gw.sim.fault({ endpoint: 'render-submit', delayMs: 500, count: 1 })
  const mutation = `mutation { startExport(sessionId: "${session.id}", idempotencyKey: "export-once") { id } }`
  const results = await Promise.all(Array.from({ length: CALLS }, async () =>
    (await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: mutation } })).json()))
  const ids = new Set(results.map(r => r.data?.startExport?.id))
  t.equal(ids.size, 1, 'one export id for every call')
  t.equal((await gw.sim.counters()).requests['render-submit'], 1, 'one render upstream')
  t.equal((await acme.as('alice', { method: 'GET', url: `/v1/exports/${String([...ids][0])}` })).statusCode, 200)
})
