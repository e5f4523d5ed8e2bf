// Erasing a user's or a tenant's data: the counts match what existed, every row of theirs is
// gone, everyone else's rows are byte for byte what they were, and a second delete is a no-op.
import { createHash } from 'node:crypto'
import t from 'tap'
import type { Test } from 'tap'
import { runAdmin } from '../../src/cli/admin.ts'
import type { TestGateway, TestTenant } from '../helpers/app.ts'
import { buildGateway } from '../helpers/app.ts'
import { exportSetup, renderableSession, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'

type Rows = Record<string, any[]>

/** Every row of every table, each table in a stable order. */
async function snapshot (gw: TestGateway): Promise<Rows> {
  const p = gw.app.prisma
  const byId = { orderBy: { id: 'asc' as const } }
  return {
    tenant: await p.tenant.findMany(byId),
    apiKey: await p.apiKey.findMany(byId),
    user: await p.user.findMany(byId),
    credential: await p.credential.findMany(byId),
    mintLedger: await p.mintLedger.findMany(byId),
    session: await p.session.findMany(byId),
    turn: await p.turn.findMany(byId),
    sessionEvent: await p.sessionEvent.findMany({ orderBy: { cursor: 'asc' } }),
    upload: await p.upload.findMany(byId),
    export: await p.export.findMany(byId),
    webhookEndpoint: await p.webhookEndpoint.findMany(byId),
    webhookMessage: await p.webhookMessage.findMany(byId),
    webhookAttempt: await p.webhookAttempt.findMany(byId),
    idempotencyRecord: await p.idempotencyRecord.findMany({ orderBy: [{ tenantId: 'asc' }, { key: 'asc' }, { route: 'asc' }] })
  }
}

const checksum = (rows: Rows): string =>
  createHash('sha256').update(JSON.stringify(rows, (_k, v) => typeof v === 'bigint' ? v.toString() : v)).digest('hex')

/** Splits a snapshot into one user's rows and everyone else's. */
function split (rows: Rows, tenantId: string, externalId: string): { theirs: Rows, others: Rows } {
  const user = rows.user!.find((u) => u.tenantId === tenantId && u.externalId === externalId)
  const sessions = new Set(rows.session!.filter((s) => s.userId === user?.id).map((s) => s.id))
  const exports = new Set(rows.export!.filter((e) => e.userId === user?.id).map((e) => e.id))
  const messages = new Set(rows.webhookMessage!.filter((m) => m.tenantId === tenantId && (m.payload.data?.userId === externalId || exports.has(m.payload.data?.exportId))).map((m) => m.id))
  const mine: Record<string, (r: any) => boolean> = {
    user: (r) => r.id === user?.id,
    credential: (r) => r.userId === user?.id,
    session: (r) => sessions.has(r.id),
    turn: (r) => sessions.has(r.sessionId),
    sessionEvent: (r) => sessions.has(r.sessionId),
    upload: (r) => sessions.has(r.sessionId),
    export: (r) => exports.has(r.id),
    webhookMessage: (r) => messages.has(r.id),
    webhookAttempt: (r) => messages.has(r.messageId)
  }
  const theirs: Rows = {}
  const others: Rows = {}
  for (const [table, list] of Object.entries(rows)) {
    const is = mine[table] ?? (() => false)
    theirs[table] = list.filter(is)
    others[table] = list.filter((r) => !is(r))
  }
  return { theirs, others }
}

const PNG = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52, ...Array.from({ length: 2000 }, (_, i) => i % 251)])

async function upload (tenant: TestTenant, user: string, sessionId: string): Promise<void> {
  const boundary = 'gw-delete-test'
  const payload = Buffer.concat([
    Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="cover.png"\r\nContent-Type: application/octet-stream\r\n\r\n`),
    PNG,
    Buffer.from(`\r\n--${boundary}--\r\n`)
  ])
  const res = await tenant.as(user, { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, payload, headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } })
  if (res.statusCode !== 201) throw new Error(`upload failed: ${res.body}`)
}

async function exportDone (tenant: TestTenant, user: string, sessionId: string, quality = 'low'): Promise<string> {
  const started = await tenant.as(user, { method: 'POST', url: `/v1/sessions/${sessionId}/exports`, payload: { quality } })
  if (started.statusCode !== 202 && started.statusCode !== 201) throw new Error(`export failed: ${started.body}`)
  const id = started.json().id as string
  await settled(tenant, user, id)
  return id
}

/** acme: alice (2 sessions, a turn, an upload, 2 exports), bob (a session, an export); globex: alice too. */
async function populated (t: Test) {
  const ctx = await exportSetup(t)
  const { gw, acme, session, receiver } = ctx
  const second = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  await upload(acme, 'alice', second.id)
  await exportDone(acme, 'alice', session.id, 'low')
  await exportDone(acme, 'alice', session.id, 'medium')
  const bobs = await renderableSession(acme, 'bob')
  await exportDone(acme, 'bob', bobs.id)
  const globex = await gw.tenant('globex')
  const theirs = await renderableSession(globex, 'alice')
  await exportDone(globex, 'alice', theirs.id)
  // every webhook delivered, so nothing changes underneath the snapshots
  await receiver.waitFor(3)
  await waitFor(async () => await gw.app.prisma.webhookMessage.count({ where: { status: 'pending' } }), (n) => n === 0)
  // and every file archived
  await waitFor(async () => await gw.app.prisma.export.count({ where: { archiveState: 'pending' } }), (n) => n === 0)
  return { ...ctx, globex }
}

t.test('DELETE /v1/users/:userId removes all of the user\'s rows, counts them, and leaves every other row as it was', async (t) => {
  const { gw, acme, globex } = await populated(t)
  const before = await snapshot(gw)
  const { theirs, others } = split(before, acme.id, 'alice')
  t.equal(theirs.session!.length, 2)
  t.equal(theirs.export!.length, 2)
  t.equal(theirs.webhookMessage!.length, 2)
  t.equal(theirs.upload!.length, 1)

  // tenant walls: globex's key names only globex's users; acme's bob is not among them
  const walled = await globex.as('x', { method: 'DELETE', url: '/v1/users/bob' })
  t.equal(walled.statusCode, 200)
  t.same(Object.values(walled.json().deleted), [0, 0, 0, 0, 0, 0, 0, 0, 0], 'nothing of acme is reachable with globex\'s key')
  t.equal(checksum(await snapshot(gw)), checksum(before), 'not a row changed')

  const res = await acme.as('someone-else', { method: 'DELETE', url: '/v1/users/alice' })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().deleted, {
    users: 1,
    sessions: 2,
    sessionEvents: theirs.sessionEvent!.length,
    turns: theirs.turn!.length,
    uploads: 1,
    exports: 2,
    archivedFiles: 2,
    webhookMessages: 2,
    credentials: theirs.credential!.length
  })
  t.ok(theirs.turn!.length >= 1 && theirs.sessionEvent!.length > 0 && theirs.credential!.length === 1)

  const after = await snapshot(gw)
  t.same(split(after, acme.id, 'alice').theirs, Object.fromEntries(Object.keys(before).map((k) => [k, []])), 'no row of alice\'s is left in any table')
  t.equal(checksum(after), checksum(others), 'bob\'s, globex\'s (its alice too) and the tenants\' rows are identical')

  const again = await acme.as('alice', { method: 'DELETE', url: '/v1/users/alice' })
  t.equal(again.statusCode, 200)
  t.same(again.json().deleted, { users: 0, sessions: 0, sessionEvents: 0, turns: 0, uploads: 0, exports: 0, archivedFiles: 0, webhookMessages: 0, credentials: 0 }, 'idempotent: a second delete removes nothing')
  t.equal(checksum(await snapshot(gw)), checksum(after))

  // alice may come back: a new user, with nothing of the old one
  const fresh = await acme.as('alice', { method: 'GET', url: '/v1/sessions' })
  t.equal(fresh.statusCode, 200)
  t.same(fresh.json().items, [])
})

t.test('a user\'s export still rendering is cancelled first; nothing about it arrives after the delete', async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t, { sim: { renderDurationMs: 60_000 } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}` })).json(), (e: any) => e.status === 'rendering')
  const res = await acme.as('alice', { method: 'DELETE', url: '/v1/users/alice' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json().deleted, { users: 1, exports: 1 })
  const counted = await gw.sim.counters()
  t.ok((counted.requests['render-cancel'] ?? 0) >= 1, 'the render was cancelled upstream')
  // a submit job run twice (its lease lapsed on a loaded machine) renders twice: its second render
  // is cancelled as soon as it is found to be a duplicate, so every render it made is cancelled
  t.equal(counted.requests['render-cancel'], counted.requests['render-submit'], 'every render submitted for it was cancelled upstream')
  const seen = receiver.deliveries.length
  t.equal(await gw.app.domain.exports.poll(started.id), null, 'the poller finds nothing to poll')
  await new Promise((resolve) => setTimeout(resolve, 1500))
  t.equal(receiver.deliveries.length, seen, 'no webhook after the delete')
  const p = gw.app.prisma
  t.equal(await p.export.count(), 0)
  t.equal(await p.webhookMessage.count(), 0)
  t.equal(await p.sessionEvent.count(), 0)
  t.equal(await p.session.count(), 0)
})

t.test('a user\'s running turn is stopped before their rows go; nothing is written for them afterwards', async (t) => {
  const gw = await buildGateway(t, { sim: { stepDelayMs: 2, generationMs: 30_000, heartbeatIntervalMs: 10 } })
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const started = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:generation] make a video' } })
  t.equal(started.statusCode, 202, started.body)
  t.equal(gw.app.domain.turns.active, 1, 'the turn runs')
  const t0 = Date.now()
  const res = await acme.as('alice', { method: 'DELETE', url: '/v1/users/alice' })
  t.equal(res.statusCode, 200, res.body)
  t.match(res.json().deleted, { users: 1, sessions: 1, turns: 1 })
  t.ok(Date.now() - t0 < 10_000, 'the turn was cut, not waited out')
  t.equal(gw.app.domain.turns.active, 0, 'no turn runs for the deleted user')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const p = gw.app.prisma
  t.equal(await p.turn.count(), 0)
  t.equal(await p.sessionEvent.count(), 0)
  t.equal(await p.session.count(), 0)
  t.equal(await p.user.count(), 0)
})

t.test('DELETE /admin/v1/tenants/:id and the CLI remove a tenant or a user with counts; the other tenant is untouched', async (t) => {
  const { gw, acme, globex } = await populated(t)
  const initech = await gw.tenant('initech')
  const before = await snapshot(gw)
  const globexRows = (rows: Rows): Rows => Object.fromEntries(Object.entries(rows).map(([k, list]) => [k, list.filter((r) => {
    if (k === 'tenant') return r.id === globex.id
    if ('tenantId' in r) return r.tenantId === globex.id
    if (k === 'turn' || k === 'sessionEvent' || k === 'upload') return before.session!.some((s) => s.id === r.sessionId && s.tenantId === globex.id)
    if (k === 'webhookAttempt') return before.webhookMessage!.some((m) => m.id === r.messageId && m.tenantId === globex.id)
    return false
  })]))
  const acmeCount = (table: string) => before[table]!.filter((r) => r.tenantId === acme.id || (table === 'tenant' && r.id === acme.id) ||
    (['turn', 'sessionEvent', 'upload'].includes(table) && before.session!.some((s) => s.id === r.sessionId && s.tenantId === acme.id))).length

  const res = await gw.admin({ method: 'DELETE', url: `/admin/v1/tenants/${acme.id}` })
  t.equal(res.statusCode, 200, res.body)
  t.same(res.json().deleted, {
    users: 2,
    sessions: acmeCount('session'),
    sessionEvents: acmeCount('sessionEvent'),
    turns: acmeCount('turn'),
    uploads: 1,
    exports: 3,
    archivedFiles: 3,
    webhookMessages: 3,
    credentials: acmeCount('credential'),
    tenants: 1,
    apiKeys: 1,
    webhookEndpoints: 1,
    idempotencyRecords: acmeCount('idempotencyRecord'),
    mintLedger: acmeCount('mintLedger')
  })
  const after = await snapshot(gw)
  for (const [table, list] of Object.entries(after)) {
    const left = list.filter((r) => r.tenantId === acme.id || r.id === acme.id || (table === 'webhookAttempt' && before.webhookMessage!.some((m) => m.id === r.messageId && m.tenantId === acme.id)))
    t.equal(left.length, 0, `no ${table} row of acme is left`)
  }
  t.equal(await gw.app.prisma.session.count({ where: { tenantId: acme.id } }), 0)
  t.equal(checksum(globexRows(after)), checksum(globexRows(before)), 'globex\'s rows are identical')
  const key = await acme.as('alice', { method: 'GET', url: '/v1/sessions' })
  t.equal(key.statusCode, 401, 'the deleted tenant\'s key no longer works')

  const again = await gw.admin({ method: 'DELETE', url: `/admin/v1/tenants/${acme.id}` })
  t.equal(again.statusCode, 200)
  t.ok(Object.values(again.json().deleted).every((n) => n === 0), 'idempotent: zero counts')

  // the CLI: a user, then a whole tenant, by name
  const user = await runAdmin(['users', 'delete', 'globex', 'alice'], gw.app.domain) as Record<string, number>
  t.match(user, { users: 1, sessions: 1, exports: 1, archivedFiles: 1, credentials: 1 })
  t.equal(await gw.app.prisma.session.count({ where: { tenantId: globex.id } }), 0)
  const tenant = await runAdmin(['tenants', 'delete', 'initech'], gw.app.domain) as Record<string, number>
  t.match(tenant, { tenants: 1, apiKeys: 1, users: 0 })
  t.equal(await gw.app.prisma.tenant.count({ where: { id: initech.id } }), 0)
})
