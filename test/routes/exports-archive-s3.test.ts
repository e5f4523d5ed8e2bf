// Archived outputs in an S3-compatible bucket (s3rver, started by the test): a file larger than
// one multipart part goes up in parts, the upstream's URL then stops working, and the download
// returns the same bytes, whole and by range; deleting the user deletes the object.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { exportSetup, settled } from '../helpers/exports.ts'
import { startS3 } from '../helpers/s3.ts'
import { waitFor } from '../helpers/sse.ts'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
/** Over one 8 MiB part: the copy is a multipart upload of two parts. */
const SIZE = 13 * 1024 * 1024 + 5

t.test('S3: a multipart-sized file is archived in the bucket and served after the upstream URL expires', async (t) => {
  const s3 = await startS3(t)
  const { gw, acme, session } = await exportSetup(t, { endpoint: false, sim: { outputBytes: SIZE }, config: { ...s3.config, S3_PREFIX: 'gw/' } })
  gw.secret(s3.config.S3_SECRET_ACCESS_KEY!)
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const row = await gw.app.prisma.export.findUniqueOrThrow({ where: { id: started.id } })
  const original = Buffer.from(await (await request(row.outputUrl!)).body.arrayBuffer())
  t.equal(original.length, SIZE)

  const e = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}` })).json(), (x: any) => x.archive?.state !== 'pending', 60_000)
  t.match(e.archive, { state: 'archived', storage: 's3', size: SIZE, sha256: sha256(original) })
  const key = `gw/${acme.id}/${started.id}.mp4`
  t.equal(await s3.size(key), SIZE, 'the object is in the bucket under S3_PREFIX')
  t.equal(sha256(await s3.read(key)), sha256(original), 'with the upstream\'s bytes')
  t.same(await readdir(join(gw.config.DATA_DIR, 'outputs')).catch(() => []), [], 'nothing on local disk')

  await gw.sim.configure({ outputTtlMs: 0 })
  t.equal((await request(row.outputUrl!)).statusCode, 404, 'the upstream output URL no longer works')
  const whole = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(whole.statusCode, 200)
  t.equal(sha256(whole.rawPayload), sha256(original), 'the same bytes (sha256)')
  t.equal(whole.headers.etag, `"${sha256(original)}"`)
  // a range across the boundary of the two parts
  const from = 8 * 1024 * 1024 - 10
  const part = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range: `bytes=${from}-${from + 99}` } })
  t.equal(part.statusCode, 206)
  t.equal(part.headers['content-range'], `bytes ${from}-${from + 99}/${SIZE}`)
  t.equal(sha256(part.rawPayload), sha256(original.subarray(from, from + 100)), 'the range\'s bytes')

  const deleted = await acme.as('admin', { method: 'DELETE', url: '/v1/users/alice' })
  t.match(deleted.json().deleted, { exports: 1, archivedFiles: 1 })
  t.equal(await s3.size(key), null, 'the object is gone from the bucket')
})
