// What an export survives besides a crash: the token that submitted it dying mid-render, an
// upstream that answers 2001 on every poll, a cancel racing a poll, a cancel after the upstream
// finished, ranges no file can satisfy.
import t from 'tap'
import { decrypt } from '../../src/db/crypto.ts'
import { exportSetup, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'
import type { TestGateway } from '../helpers/app.ts'

async function tokenOf (gw: TestGateway, credentialId: string): Promise<string> {
  const row = await gw.app.prisma.credential.findUniqueOrThrow({ where: { id: credentialId } })
  return decrypt(gw.app.encryptionKey, row.tokenCiphertext)
}

const eventsOf = async (ctx: Awaited<ReturnType<typeof exportSetup>>) =>
  (await ctx.acme.as('alice', { method: 'GET', url: `/v1/sessions/${ctx.session.id}/events?limit=1000` })).json().items as any[]

t.test('the submitting token is revoked mid-render: the export completes through a resubmission with a new token, and the log says why', async (t) => {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 1500, mintLimitPerIp: 100, mintLimitPerClient: 5 } })
  const { gw, acme, session, receiver } = ctx
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  t.equal(started.status, 'rendering')
  const row = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
  await gw.sim.control('POST', 'tokens/revoke', { token: await tokenOf(gw, row.credentialId) })
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'completed', 'completed, not failed/upstream_auth')
  t.equal(done.attempts, 2)
  t.not(done.renderId, started.renderId, 'the resubmission has its own render id')
  const after = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
  t.not(after.credentialId, row.credentialId, 'rendered with another token')
  t.equal(after.tokenResubmits, 1)
  t.match((await gw.app.prisma.credential.findUniqueOrThrow({ where: { id: row.credentialId } })).state, /revoked|expired/, 'the dead token is retired')
  const retry = (await eventsOf(ctx)).find(e => e.type === 'export.progress' && e.payload.retry !== undefined)
  t.match(retry?.payload, { exportId: started.id, attempt: 2, retry: { reason: 'upstream_auth', message: /no longer accepts the token/ } }, 'the log says why')
  const [d] = await receiver.waitFor(1)
  t.equal(d!.json.type, 'export.completed')
  const file = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(file.statusCode, 200, 'the file downloads with the new token')
})

t.test('a token that dies again after the resubmission: the export fails, saying a resubmission was tried', async (t) => {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 60_000, mintLimitPerIp: 100, mintLimitPerClient: 5 } })
  const { gw, acme, session } = ctx
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  for (let i = 0; i < 2; i++) {
    const { credentialId, attempts } = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
    await gw.sim.control('POST', 'tokens/revoke', { token: await tokenOf(gw, credentialId) })
    if (i === 0) await waitFor(async () => await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } }), (r) => r.attempts > attempts && r.status !== 'queued')
  }
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'failed')
  t.match(done.error, { reason: 'upstream_auth', retryable: true, message: /already submitted again with the user's current token once/ })
})

t.test('2001 on every poll: re-checked EXPORT_POLL_RECHECKS times, then failed with a reason that says so', async (t) => {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 60_000 }, config: { EXPORT_POLL_RECHECKS: 3 } })
  const { gw, acme, session, receiver } = ctx
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await gw.sim.fault({ endpoint: 'render-poll', count: 100, code: 2001, message: 'insufficient credits' })
  const before = (await gw.sim.counters()).requests['render-poll'] ?? 0
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'failed')
  t.match(done.error, { reason: 'credits_exhausted', retryable: true, message: /2001.*3 polls in a row/ })
  t.equal((await gw.sim.counters()).requests['render-poll']! - before, 3, 'three polls, not one and not until the deadline')
  const [d] = await receiver.waitFor(1)
  t.equal(d!.json.type, 'export.failed')
})

t.test('a cancel that races a poll never brings the export back: 30 exports at 150 ms upstream latency', async (t) => {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 400, latencyMs: 150, renderFailureRate: 1 }, config: { EXPORT_POLL_INITIAL_MS: 50, EXPORT_POLL_MAX_MS: 60 } })
  const { acme, session, receiver } = ctx
  const ids: string[] = []
  for (let i = 0; i < 30; i++) {
    const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
    ids.push(started.id)
    // the render fails at 200 ms: the cancel lands around the poll that sees it and resubmits
    setTimeout(() => { acme.as('alice', { method: 'POST', url: `/v1/exports/${started.id}/cancel` }).catch(() => {}) }, 150 + (i % 10) * 20)
  }
  for (const id of ids) await settled(acme, 'alice', id)
  await new Promise(resolve => setTimeout(resolve, 2000))
  let resurrected = 0
  for (const id of ids) {
    const e = (await acme.as('alice', { method: 'GET', url: `/v1/exports/${id}` })).json()
    const finals = receiver.deliveries.filter(d => d.json.data.exportId === id)
    t.equal(finals.length, 1, `one final webhook for ${id} (${finals.map(d => d.json.type).join(', ')})`)
    if (e.status === 'completed' || e.status === 'rendering' || e.status === 'queued') resurrected++
  }
  t.equal(resurrected, 0, 'no export came back after its cancel')
})

t.test('a cancel after the upstream finished: the upstream\'s answer decides (completed), 10 of 10', async (t) => {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 50 }, config: { EXPORT_POLL_INITIAL_MS: 60_000, EXPORT_POLL_MAX_MS: 60_000 } })
  const { acme, session, receiver } = ctx
  for (let i = 0; i < 10; i++) {
    const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
    await new Promise(resolve => setTimeout(resolve, 120)) // rendered upstream; the gateway has not polled yet
    const cancelled = await acme.as('alice', { method: 'POST', url: `/v1/exports/${started.id}/cancel` })
    t.equal(cancelled.json().status, 'completed', `export ${i}: reported as the upstream finished it`)
  }
  await receiver.waitFor(10)
  t.ok(receiver.deliveries.every(d => d.json.type === 'export.completed'))
})

t.test('download: every unsatisfiable range form answers 416 with Content-Range bytes */size', async (t) => {
  const { acme, session } = await exportSetup(t, { endpoint: false })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const whole = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  const size = whole.rawPayload.length
  t.ok(size > 0)
  for (const range of ['bytes=-0', 'bytes=5-1', 'bytes=99999999999-', `bytes=${size}-`, 'bytes=-0,9-3']) {
    const res = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range } })
    t.equal(res.statusCode, 416, range)
    t.equal(res.headers['content-range'], `bytes */${size}`, `${range}: names the size`)
    t.equal(res.json().code, 'GW_ERR_RANGE_NOT_SATISFIABLE')
  }
  const part = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range: 'bytes=0-9' } })
  t.equal(part.statusCode, 206, 'a satisfiable range still answers 206')
  t.equal(part.rawPayload.length, 10)
})

t.test('an export started while a turn runs says its render has the timeline from before the turn', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  // the upstream holds the turn's stream for 6 s before it answers: the turn is running meanwhile
  await gw.sim.fault({ endpoint: 'run-sse', delayMs: 6000 })
  const turn = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:generation] add a title' } })).json()
  const during = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  t.match(during.timelineNote, new RegExp(`turn ${turn.id} was still running: its edits are not in this render`))
  const gql = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: `{ export(id: "${during.id}") { timelineNote } }` } })
  t.equal(gql.json().data.export.timelineNote, during.timelineNote, 'GraphQL says the same')
  await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/turns/${turn.id}` })).json(), (x: any) => x.status !== 'running')
  const after = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  t.equal(after.timelineNote, null, 'no note once the turn has ended')
})
