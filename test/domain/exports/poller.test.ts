// The export poller's state machine, driven one poll at a time (ExportPoller.poll, as the
// pg-boss job calls it) against a real database and a real simulator, with the job queue's
// own polls held off (first poll in a minute) so each step is the test's.
import t from 'tap'
import { exportSetup } from '../../helpers/exports.ts'

const HELD = { EXPORT_POLL_INITIAL_MS: 60_000, EXPORT_POLL_MAX_MS: 60_000 }

async function setup (t: Parameters<typeof exportSetup>[0], sim: Record<string, unknown> = {}) {
  const ctx = await exportSetup(t, { sim: { renderDurationMs: 200, ...sim }, config: HELD })
  const { gw, acme, session } = ctx
  const poller = gw.app.domain.exports.poller
  const row = async (id: string) => await gw.app.prisma.export.findUniqueOrThrow({ where: { id } })
  const start = async () => (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const submits = async () => (await gw.sim.counters()).requests['render-submit'] ?? 0
  const polls = async () => (await gw.sim.counters()).requests['render-poll'] ?? 0
  return { ...ctx, poller, row, start, submits, polls }
}

t.test('rendering -> completed: one poll finishes the export with its event and its webhook message, in one go', async (t) => {
  const { gw, poller, row, start } = await setup(t)
  const e = await start()
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(await poller.poll(e.id), null, 'no further poll')
  const done = await row(e.id)
  t.equal(done.status, 'completed')
  t.equal(done.progress, 100)
  t.equal(await gw.app.prisma.sessionEvent.count({ where: { type: 'export.completed' } }), 1)
  t.equal(await gw.app.prisma.webhookMessage.count({ where: { eventType: 'export.completed' } }), 1)
  t.equal(await poller.poll(e.id), null, 'a finished export is not polled again')
})

t.test('rendering, not done: progress is stored, the next poll is due after a backoff', async (t) => {
  const { poller, row, start } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await new Promise(resolve => setTimeout(resolve, 1000))
  const next = await poller.poll(e.id)
  t.ok(next !== null && next > 0, `next poll in ${next} ms`)
  const r = await row(e.id)
  t.equal(r.polls, 1)
  t.equal(r.pollLockedUntil, null, 'the lease is released')
})

t.test('a leased export is not polled by another caller: it is told when the lease ends', async (t) => {
  const { gw, poller, polls, start } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { pollLockedUntil: new Date(Date.now() + 10_000) } })
  const before = await polls()
  const next = await poller.poll(e.id)
  t.ok(next !== null && next > 5000 && next <= 10_500, `look again in ${next} ms (when the 10 s lease ends)`)
  t.equal(await polls(), before, 'no upstream call')
})

t.test('queued with a lapsed lease, render unknown upstream: submitted again with the same render id', async (t) => {
  const { gw, poller, row, start, submits } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  // as if the gateway had died after storing the row and before the upstream heard of it
  const fresh = `render_${e.id.replace(/-/g, '')}_lost`
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { status: 'queued', renderId: fresh, renderIds: [fresh], pollLockedUntil: new Date(Date.now() - 1) } })
  const before = await submits()
  t.ok(await poller.poll(e.id))
  t.equal(await submits(), before + 1, 'one submit')
  const r = await row(e.id)
  t.equal(r.status, 'pending')
  t.equal(r.renderId, fresh, 'with the stored id')
})

t.test('queued with a lapsed lease, render known upstream: polling starts, nothing is submitted', async (t) => {
  const { gw, poller, row, start, submits } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { status: 'queued', pollLockedUntil: new Date(Date.now() - 1) } })
  const before = await submits()
  t.ok(await poller.poll(e.id))
  t.equal(await submits(), before, 'no second submit')
  t.equal((await row(e.id)).status, 'pending')
})

t.test('queued while its submitter holds the lease: left alone', async (t) => {
  const { gw, poller, row, start, submits } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { status: 'queued', pollLockedUntil: new Date(Date.now() + 5000) } })
  const before = await submits()
  t.ok(await poller.poll(e.id))
  t.equal(await submits(), before)
  t.equal((await row(e.id)).status, 'queued')
})

t.test('a lost render (404) goes back through queued with a new render id, once; a second loss fails it', async (t) => {
  const { gw, poller, row, start } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await gw.sim.fault({ endpoint: 'render-poll', status: 404, body: { success: false, error: 'render not found' } })
  t.ok(await poller.poll(e.id))
  const retried = await row(e.id)
  t.equal(retried.status, 'pending')
  t.equal(retried.attempts, 2)
  t.equal(retried.renderIds.length, 2)
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { pollLockedUntil: null } })
  await gw.sim.fault({ endpoint: 'render-poll', status: 404, body: { success: false, error: 'render not found' } })
  t.equal(await poller.poll(e.id), null)
  const failed = await row(e.id)
  t.equal(failed.status, 'failed')
  t.match(failed.error, { reason: 'lost', message: /attempt 2 of 2/ })
})

t.test('past its deadline: failed with reason deadline, the render cancelled upstream', async (t) => {
  const { gw, poller, row, start } = await setup(t, { renderDurationMs: 60_000 })
  const e = await start()
  await gw.app.prisma.export.update({ where: { id: e.id }, data: { deadlineAt: new Date(Date.now() - 1) } })
  const cancels = (await gw.sim.counters()).requests['render-cancel'] ?? 0
  t.equal(await poller.poll(e.id), null)
  t.match((await row(e.id)).error, { reason: 'deadline' })
  t.equal((await gw.sim.counters()).requests['render-cancel'], cancels + 1)
})

t.test('reconcile re-arms every active export, queued ones included', async (t) => {
  const { gw, poller, start } = await setup(t, { renderDurationMs: 60_000 })
  await start()
  const e2 = await start()
  await gw.app.prisma.export.update({ where: { id: e2.id }, data: { status: 'queued', pollLockedUntil: new Date(Date.now() + 1000) } })
  t.equal(await poller.reconcile(), 2)
})
