// Archived outputs: a completed export's MP4 is copied into the gateway's own store, so it can
// be downloaded (whole, by range, with its sha256 as ETag) after the upstream's output URL has
// stopped working. Retention deletes old copies and keeps recent ones; deleting a user deletes
// their files; with archiving off, downloads stream from the upstream as before.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readdir, rm, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { exportSetup, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'
import type { TestTenant } from '../helpers/app.ts'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

/** Waits until the export's copy is no longer being made, and returns the export. */
async function archived (tenant: TestTenant, user: string, id: string, timeoutMs = 20_000): Promise<any> {
  return await waitFor(async () => (await tenant.as(user, { method: 'GET', url: `/v1/exports/${id}` })).json(),
    (e: any) => e.archive !== null && e.archive?.state !== 'pending', timeoutMs)
}

/** The files under a folder, recursively, as paths relative to it. */
async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
}

t.test('the upstream URL stops working after completion: the download still returns the same bytes, whole and by range', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, sim: { outputBytes: 4 * 1024 * 1024 + 17 } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'completed')
  const row = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
  // the upstream's file, read straight from its output URL before it expires
  const original = Buffer.from(await (await request(row.outputUrl!)).body.arrayBuffer())
  t.equal(original.length, 4 * 1024 * 1024 + 17)

  const e = await archived(acme, 'alice', started.id)
  t.match(e.archive, { state: 'archived', storage: 'local', size: original.length, sha256: sha256(original), error: null }, 'GET /v1/exports/:id says where the file is and how large')
  t.ok(new Date(e.archive.archivedAt).getTime() >= new Date(e.completedAt).getTime())
  const files = await filesUnder(join(gw.config.DATA_DIR, 'outputs'))
  t.same(files, [`${acme.id}/${started.id}.mp4`], 'one file under DATA_DIR/outputs, no partial left')
  t.equal((await stat(join(gw.config.DATA_DIR, 'outputs', files[0]!))).size, original.length)

  // the upstream forgets the file: its URL and its render proxy answer 404 from now on
  await gw.sim.configure({ outputTtlMs: 0 })
  t.equal((await request(row.outputUrl!)).statusCode, 404, 'the upstream output URL no longer works')
  const downloadsBefore = (await gw.sim.counters()).requests.download ?? 0

  const whole = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(whole.statusCode, 200)
  t.equal(sha256(whole.rawPayload), sha256(original), 'the same bytes (sha256)')
  t.equal(whole.headers['content-length'], String(original.length))
  t.equal(whole.headers.etag, `"${sha256(original)}"`, 'ETag is the sha256')
  t.equal(whole.headers['accept-ranges'], 'bytes')
  t.equal(whole.headers['content-type'], 'video/mp4')
  t.match(whole.headers['content-disposition'], `attachment; filename="export-${started.id}.mp4"`)

  for (const [range, from, to] of [['bytes=1000-1999', 1000, 1999], ['bytes=-100', original.length - 100, original.length - 1], [`bytes=${original.length - 5}-`, original.length - 5, original.length - 1], ['bytes=0-99999999999', 0, original.length - 1]] as const) {
    const part = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range } })
    t.equal(part.statusCode, 206, range)
    t.equal(part.headers['content-range'], `bytes ${from}-${to}/${original.length}`, `${range}: Content-Range`)
    t.equal(part.headers['content-length'], String(to - from + 1))
    t.equal(sha256(part.rawPayload), sha256(original.subarray(from, to + 1)), `${range}: the same bytes`)
  }
  for (const range of ['bytes=-0', 'bytes=5-1', `bytes=${original.length}-`]) {
    const res = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range } })
    t.equal(res.statusCode, 416, range)
    t.equal(res.headers['content-range'], `bytes */${original.length}`)
  }
  const redirect = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download?redirect=true` })
  t.equal(redirect.statusCode, 200, '?redirect=true serves the copy rather than a dead upstream URL')
  t.equal((await gw.sim.counters()).requests.download ?? 0, downloadsBefore, 'no download went to the upstream')

  const gql = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: `{ export(id: "${started.id}") { archive { state storage size sha256 } } }` } })
  t.same(gql.json().data.export.archive, { state: 'archived', storage: 'local', size: original.length, sha256: sha256(original) }, 'GraphQL says the same')
  const events = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json().items as any[]
  t.same(events.filter((x) => x.type === 'export.archived').map((x) => x.payload), [{ exportId: started.id, storage: 'local', size: original.length, sha256: sha256(original) }], 'one export.archived event')

  const other = await gw.tenant('other')
  t.equal((await other.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })).statusCode, 404, 'another tenant cannot read it')
})

t.test('while the copy is being made, downloads stream from the upstream', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, sim: { outputBytes: 1024 * 1024, outputBytesPerSec: 256 * 1024 } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const during = (await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}` })).json()
  t.equal(during.archive.state, 'pending')
  await gw.sim.configure({ outputBytesPerSec: 0 })
  const file = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range: 'bytes=0-9' } })
  t.equal(file.statusCode, 206, 'a range passes through to the upstream')
  t.equal(file.headers.etag, undefined, 'no ETag: not the gateway\'s copy yet')
  const e = await archived(acme, 'alice', started.id)
  t.equal(e.archive.state, 'archived')
})

t.test('retention: archived files older than OUTPUT_RETENTION_DAYS are deleted, recent ones kept', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, config: { OUTPUT_RETENTION_DAYS: 7, OUTPUT_SWEEP_INTERVAL_MS: 200 } })
  const ids: string[] = []
  for (let i = 0; i < 3; i++) ids.push((await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json().id)
  for (const id of ids) t.equal((await archived(acme, 'alice', id)).archive.state, 'archived')
  const dir = join(gw.config.DATA_DIR, 'outputs')
  t.equal((await filesUnder(dir)).length, 3)
  // two copies made 8 and 30 days ago, one 6 days ago
  const days = (n: number) => new Date(Date.now() - n * 24 * 3600_000)
  await gw.app.prisma.export.update({ where: { id: ids[0] }, data: { archivedAt: days(8) } })
  await gw.app.prisma.export.update({ where: { id: ids[1] }, data: { archivedAt: days(30) } })
  await gw.app.prisma.export.update({ where: { id: ids[2] }, data: { archivedAt: days(6) } })
  await waitFor(async () => await filesUnder(dir), (f) => f.length === 1)
  t.same(await filesUnder(dir), [`${acme.id}/${ids[2]}.mp4`], 'the recent file stays')
  for (const id of ids.slice(0, 2)) {
    const e = (await acme.as('alice', { method: 'GET', url: `/v1/exports/${id}` })).json()
    t.equal(e.archive.state, 'expired', 'the old export says expired')
    t.equal(e.status, 'completed', 'the export itself is still there')
    const res = await acme.as('alice', { method: 'GET', url: `/v1/exports/${id}/download` })
    t.equal(res.statusCode, 410)
    t.equal(res.json().code, 'GW_ERR_EXPORT_EXPIRED')
  }
  const kept = await acme.as('alice', { method: 'GET', url: `/v1/exports/${ids[2]}/download` })
  t.equal(kept.statusCode, 200)
  t.equal(kept.headers.etag, `"${(await gw.app.prisma.export.findUniqueOrThrow({ where: { id: ids[2] } })).archiveSha256}"`)

  // an operator removed the file by hand: the caller gets a 404 that says so, not a 500
  await rm(join(dir, acme.id, `${ids[2]}.mp4`))
  const lost = await acme.as('alice', { method: 'GET', url: `/v1/exports/${ids[2]}/download` })
  t.equal(lost.statusCode, 404)
  t.match(lost.json().detail, /archived file .* is missing/)
})

t.test('deleting a user deletes their archived files; another user\'s stay', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  const mine = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json().id
  const { renderableSession } = await import('../helpers/exports.ts')
  const bobs = await renderableSession(acme, 'bob')
  const theirs = (await acme.as('bob', { method: 'POST', url: `/v1/sessions/${bobs.id}/exports` })).json().id
  await archived(acme, 'alice', mine)
  await archived(acme, 'bob', theirs)
  const dir = join(gw.config.DATA_DIR, 'outputs')
  t.same(await filesUnder(dir), [`${acme.id}/${mine}.mp4`, `${acme.id}/${theirs}.mp4`].sort())
  const res = await acme.as('admin', { method: 'DELETE', url: '/v1/users/alice' })
  t.equal(res.statusCode, 200)
  t.match(res.json().deleted, { exports: 1, archivedFiles: 1 })
  t.same(await filesUnder(dir), [`${acme.id}/${theirs}.mp4`], 'alice\'s file is gone from disk, bob\'s stays')
})

t.test('archive off: no copy is made and downloads stream from the upstream as before', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, config: { OUTPUT_STORAGE: 'off' } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const done = await settled(acme, 'alice', started.id)
  t.same(done.archive, { state: 'off', storage: null, size: null, sha256: null, archivedAt: null, error: null })
  const row = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
  const original = Buffer.from(await (await request(row.outputUrl!)).body.arrayBuffer())
  const file = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(file.statusCode, 200)
  t.equal(sha256(file.rawPayload), sha256(original), 'the upstream\'s bytes')
  t.equal(file.headers.etag, undefined)
  const redirect = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download?redirect=true` })
  t.equal(redirect.statusCode, 302)
  t.equal(redirect.headers.location, row.outputUrl)
  t.same(await filesUnder(join(gw.config.DATA_DIR, 'outputs')), [], 'nothing stored')
  // and so the file is gone with the upstream's URL
  await gw.sim.configure({ outputTtlMs: 0 })
  const gone = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(gone.statusCode, 404)
  t.match(gone.json().detail, /no longer has the file/)
})

t.test('retention of export rows: a pruned export takes its archived file with it', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, config: { RETENTION_EXPORTS_DAYS: 30 } })
  const ids: string[] = []
  for (let i = 0; i < 2; i++) ids.push((await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json().id)
  for (const id of ids) t.equal((await archived(acme, 'alice', id)).archive.state, 'archived')
  const dir = join(gw.config.DATA_DIR, 'outputs')
  // the first export finished 40 days ago, the second just now
  const old = new Date(Date.now() - 40 * 24 * 3600_000)
  await gw.app.prisma.$executeRaw`UPDATE "Export" SET "completedAt" = ${old}, "updatedAt" = ${old}, "createdAt" = ${old} WHERE id = ${ids[0]}::uuid`
  const pass = await gw.app.domain.retention.prune()
  t.equal(pass.deleted.Export, 1, 'one export row pruned')
  t.same(await filesUnder(dir), [`${acme.id}/${ids[1]}.mp4`], 'its file went with it; the recent one stays')
  t.equal((await acme.as('alice', { method: 'GET', url: `/v1/exports/${ids[0]}` })).statusCode, 404)
  t.equal((await acme.as('alice', { method: 'GET', url: `/v1/exports/${ids[1]}/download` })).statusCode, 200)
})
