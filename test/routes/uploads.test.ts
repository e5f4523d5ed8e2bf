import { createHash } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import http from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { decrypt } from '../../src/db/crypto.ts'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'

const MP4_HEAD = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1')])
const PNG_HEAD = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 0x0d, 0x49, 0x48, 0x44, 0x52])
const MP3_HEAD = Buffer.from('ID3\x04\0\0\0\0\0\0', 'latin1')

/** A file of `size` bytes that starts with `head`, the rest a deterministic pattern. */
function media (head: Buffer, size: number, seed = 7): Buffer {
  const b = Buffer.alloc(size)
  for (let i = 0; i < size; i++) b[i] = (i * seed) % 251
  head.copy(b, 0, 0, Math.min(head.length, size))
  return b
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

interface Part { filename: string, content: Buffer, field?: string }

function form (parts: Part[], boundary = 'gw-test-boundary'): { payload: Buffer, headers: Record<string, string> } {
  const chunks: Buffer[] = []
  for (const p of parts) {
    chunks.push(Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${p.field ?? 'files'}"; filename="${p.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`))
    chunks.push(p.content, Buffer.from('\r\n'))
  }
  chunks.push(Buffer.from(`--${boundary}--\r\n`))
  return { payload: Buffer.concat(chunks), headers: { 'content-type': `multipart/form-data; boundary=${boundary}` } }
}

async function until<T> (fn: () => Promise<T>, ok: (v: T) => boolean, ms = 5000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (ok(v) || Date.now() > end) return v
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
}

/** Established TCP connections (either end) on a local port, read from the kernel's table. */
async function established (port: number): Promise<number> {
  const hex = port.toString(16).toUpperCase().padStart(4, '0')
  const rows = (await readFile('/proc/net/tcp', 'utf8')).split('\n').slice(1)
  return rows.map(r => r.trim().split(/\s+/)).filter(f => f[3] === '01' && (f[1]?.endsWith(':' + hex) === true || f[2]?.endsWith(':' + hex) === true)).length
}

async function setup (t: Parameters<typeof buildGateway>[0], opts: Parameters<typeof buildGateway>[1] = {}): Promise<{ gw: TestGateway, acme: TestTenant, sessionId: string, upstreamSessionId: string }> {
  const gw = await buildGateway(t, { contract: true, ...opts })
  const acme = await gw.tenant('acme')
  const s = (await acme.as('alice', { method: 'POST', url: '/v1/sessions' })).json()
  return { gw, acme, sessionId: s.id, upstreamSessionId: s.upstreamSessionId }
}

async function upstreamUploads (gw: TestGateway): Promise<Array<{ filename: string, size: number, sha256: string }>> {
  return await gw.sim.control('GET', 'uploads') as Array<{ filename: string, size: number, sha256: string }>
}

t.test('several files in one request: streamed, hashed, recorded with the upstream media info', async (t) => {
  const { gw, acme, sessionId } = await setup(t)
  const video = media(MP4_HEAD, 3 * 1024 * 1024 + 17) // past the 1 MB JSON body limit
  const image = media(PNG_HEAD, 20_000, 11)
  const audio = media(MP3_HEAD, 5000, 13)
  const res = await acme.as('alice', {
    method: 'POST',
    url: `/v1/sessions/${sessionId}/uploads`,
    ...form([{ filename: 'clip.MP4', content: video }, { filename: 'cover.png', content: image }, { filename: 'song.mp3', content: audio }])
  })
  t.equal(res.statusCode, 201, res.body)
  const body = res.json()
  t.match(body.uploadRef, /^[0-9a-f-]{36}$/)
  t.match(body.items, [
    { name: 'clip.MP4', kind: 'video', mimeType: 'video/mp4', size: video.length, sha256: sha256(video), sourceUrl: null, cdnUrl: /^https:\/\//, duration: Number, width: 1920, height: 1080, fps: 30 },
    { name: 'cover.png', kind: 'image', mimeType: 'image/png', size: image.length, sha256: sha256(image), width: 1920, height: 1080, duration: null },
    { name: 'song.mp3', kind: 'audio', mimeType: 'audio/mpeg', size: audio.length, sha256: sha256(audio), duration: Number, width: null }
  ])

  // the same bytes arrived upstream: the simulator hashed what it received
  const upstream = await upstreamUploads(gw)
  t.same(upstream.map(u => [u.filename, u.size, u.sha256]), body.items.map((i: { name: string, size: number, sha256: string }) => [i.name, i.size, i.sha256]))
  t.equal((await gw.sim.counters()).completedUploads, 1, 'one upstream request for all three files')

  const list = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}/uploads` })
  t.equal(list.statusCode, 200)
  t.same(list.json().items.map((i: { id: string }) => i.id).sort(), body.items.map((i: { id: string }) => i.id).sort())
  const page = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}/uploads?limit=2` })).json()
  t.equal(page.items.length, 2)
  const rest = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}/uploads?limit=2&cursor=${page.nextCursor}` })).json()
  t.equal(rest.items.length, 1)
  t.equal(rest.nextCursor, null)

  const events = await gw.app.prisma.sessionEvent.findMany({ where: { sessionId }, orderBy: { cursor: 'asc' } })
  const progress = events.filter(e => e.type === 'upload.progress').map(e => e.payload as { uploadRef: string, index: number, bytes: number, done: boolean })
  t.ok(progress.every(p => p.uploadRef === body.uploadRef))
  t.same(progress.filter(p => p.done).map(p => [p.index, p.bytes]), [[0, video.length], [1, image.length], [2, audio.length]], 'a final progress event per file')
  const completed = events.filter(e => e.type === 'upload.completed').map(e => e.payload as { uploadId: string })
  t.same(completed.map(c => c.uploadId), body.items.map((i: { id: string }) => i.id))
  t.ok(events.findIndex(e => e.type === 'upload.completed') > events.findLastIndex(e => e.type === 'upload.progress'), 'completed after the last progress')
})

t.test('a type the upstream does not take, or bytes that disagree with the extension: 415, nothing upstream', async (t) => {
  const { gw, acme, sessionId } = await setup(t)
  const post = async (parts: Part[]) => await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form(parts) })

  const cases: Array<{ name: string, parts: Part[], detail: RegExp }> = [
    { name: 'wrong extension', parts: [{ filename: 'notes.txt', content: Buffer.from('hello') }], detail: /notes\.txt: the extension is not accepted/ },
    { name: 'no extension', parts: [{ filename: 'movie', content: media(MP4_HEAD, 1000) }], detail: /extension is not accepted/ },
    { name: 'a PNG named .mp4', parts: [{ filename: 'holiday.mp4', content: media(PNG_HEAD, 4000) }], detail: /holiday\.mp4: the content is a PNG image, not MP4/ },
    { name: 'an MP4 named .jpg', parts: [{ filename: 'photo.jpg', content: media(MP4_HEAD, 4000) }], detail: /the content is an MP4\/MOV\/M4A file, not JPG/ },
    { name: 'text named .webm', parts: [{ filename: 'clip.webm', content: Buffer.from('just some text, long enough to be judged on its first bytes, really') }], detail: /does not look like WEBM/ },
    { name: 'an empty file', parts: [{ filename: 'empty.wav', content: Buffer.alloc(0) }], detail: /empty\.wav: the file is empty/ }
  ]
  for (const c of cases) {
    const res = await post(c.parts)
    t.equal(res.statusCode, 415, c.name)
    t.match(res.headers['content-type'], /^application\/problem\+json/)
    t.match(res.json(), { code: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE', detail: c.detail, accepted: Array }, c.name)
  }
  const counters = await gw.sim.counters()
  t.equal(counters.requests.upload, 0, 'the upstream was never called')

  // a later file that fails stops the upstream request its predecessors already started
  const mixed = await post([{ filename: 'ok.mp4', content: media(MP4_HEAD, 2 * 1024 * 1024) }, { filename: 'fake.gif', content: media(MP4_HEAD, 1000) }])
  t.equal(mixed.statusCode, 415)
  t.match(mixed.json().detail, /fake\.gif: the content is an MP4\/MOV\/M4A file, not GIF/)
  const after = await until(() => gw.sim.counters(), c => c.abortedUploads === 1)
  t.equal(after.abortedUploads, 1, 'the upstream saw the request aborted')
  t.equal(after.completedUploads, 0)
  t.same(await upstreamUploads(gw), [])
  t.equal(await gw.app.prisma.upload.count(), 0, 'no row')
  const failed = await gw.app.prisma.sessionEvent.findMany({ where: { sessionId, type: 'upload.failed' } })
  t.match(failed.map(e => e.payload), [{ code: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE', callerAborted: false }])

  // the first file passing its check does not make the request pass: it all goes or nothing
  t.equal((await acme.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}/uploads` })).json().items.length, 0)
})

t.test('a file past UPLOAD_MAX_BYTES is cut off mid-stream: 413, upstream aborted, nothing recorded', async (t) => {
  const { gw, acme, sessionId } = await setup(t, { config: { UPLOAD_MAX_BYTES: 1024 * 1024 } })
  const small = media(MP3_HEAD, 1000)
  const res = await acme.as('alice', {
    method: 'POST',
    url: `/v1/sessions/${sessionId}/uploads`,
    ...form([{ filename: 'a.mp3', content: small }, { filename: 'big.mov', content: media(MP4_HEAD, 4 * 1024 * 1024) }])
  })
  t.equal(res.statusCode, 413)
  t.match(res.json(), { code: 'GW_ERR_PAYLOAD_TOO_LARGE', detail: /big\.mov is larger than the limit of 1 MiB/, limit: 1024 * 1024 })
  const counters = await until(() => gw.sim.counters(), c => c.abortedUploads === 1)
  t.equal(counters.abortedUploads, 1, 'the upstream saw the request aborted')
  t.equal(counters.completedUploads, 0)
  t.same(await upstreamUploads(gw), [])
  t.equal(await gw.app.prisma.upload.count(), 0)

  // more than 20 files in one request
  const many = Array.from({ length: 21 }, (_, i) => ({ filename: `n${i}.mp3`, content: media(MP3_HEAD, 200) }))
  const tooMany = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form(many) })
  t.equal(tooMany.statusCode, 413)
  t.equal(tooMany.json().code, 'GW_ERR_PAYLOAD_TOO_LARGE')
  t.equal(await gw.app.prisma.upload.count(), 0)

  // exactly the limit passes
  const exact = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'fits.mov', content: media(MP4_HEAD, 1024 * 1024) }]) })
  t.equal(exact.statusCode, 201)
  t.equal(exact.json().items[0].size, 1024 * 1024)
})

t.test('upstream 4001 and 4002 are 415 and 413', async (t) => {
  const { gw, acme, sessionId } = await setup(t, { sim: { uploadMaxBytes: 1000 } })
  const post = async (content: Buffer) => await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'a.mp4', content }]) })
  const tooLarge = await post(media(MP4_HEAD, 5000))
  t.equal(tooLarge.statusCode, 413)
  t.equal(tooLarge.json().code, 'GW_ERR_PAYLOAD_TOO_LARGE')
  await gw.sim.fault({ endpoint: 'upload', code: 4001, message: 'unsupported' })
  const refused = await post(media(MP4_HEAD, 500))
  t.equal(refused.statusCode, 415)
  t.equal(refused.json().code, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE')
  t.equal(await gw.app.prisma.upload.count(), 0)
})

t.test('a caller that goes away mid-upload: upstream aborted, no row, nothing left open', async (t) => {
  const { gw, acme, sessionId } = await setup(t)
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = gw.app.server.address() as AddressInfo
  const simPort = Number(new URL(gw.sim.url).port)
  await gw.sim.counters()
  const baseline = await established(simPort)

  const boundary = 'abort-boundary'
  const req = http.request({
    host: '127.0.0.1',
    port,
    method: 'POST',
    path: `/v1/sessions/${sessionId}/uploads`,
    agent: false,
    headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice', 'content-type': `multipart/form-data; boundary=${boundary}` }
  })
  req.on('error', () => {})
  req.write(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="long.mp4"\r\nContent-Type: video/mp4\r\n\r\n`)
  req.write(media(MP4_HEAD, 2 * 1024 * 1024))
  // wait until the upstream has the request open and bytes are flowing, then vanish
  const started = await until(() => gw.sim.counters(), c => c.requests.upload === 1)
  t.equal(started.requests.upload, 1, 'the upload reached the upstream')
  await until(async () => (await gw.app.prisma.sessionEvent.count({ where: { sessionId, type: 'upload.progress' } })), n => n > 0)
  req.destroy()

  const counters = await until(() => gw.sim.counters(), c => c.abortedUploads === 1)
  t.equal(counters.abortedUploads, 1, 'the upstream saw the request aborted')
  t.equal(counters.completedUploads, 0)
  t.equal(counters.openStreams, 0)
  const failed = await until(() => gw.app.prisma.sessionEvent.findMany({ where: { sessionId, type: 'upload.failed' } }), e => e.length > 0)
  t.match(failed.map(e => e.payload), [{ callerAborted: true }])
  t.equal(await gw.app.prisma.upload.count(), 0, 'no row')
  t.same(await upstreamUploads(gw), [])
  t.equal(await until(() => established(port), n => n === 0), 0, 'the caller\'s connection is closed')
  const upstream = await until(() => established(simPort), n => n <= baseline)
  t.ok(upstream <= baseline, `the upstream connection is closed (${upstream} open to the simulator, ${baseline} before)`)

  // the gateway still serves uploads afterwards
  const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'after.mp4', content: media(MP4_HEAD, 1000) }]) })
  t.equal(res.statusCode, 201)
})

t.test('progress events are coalesced on a slow upstream', async (t) => {
  // over a real port, so the body arrives in network-sized chunks (inject hands it over whole);
  // the kernel's socket buffers hold a few MB, so the file must be well past that
  const { gw, acme, sessionId } = await setup(t, { sim: { uploadThrottleBytesPerSec: 8 * 1024 * 1024 } })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = gw.app.server.address() as AddressInfo
  const video = media(MP4_HEAD, 20 * 1024 * 1024)
  const { payload, headers } = form([{ filename: 'slow.mp4', content: video }])
  const started = Date.now()
  const res = await request(`http://127.0.0.1:${port}/v1/sessions/${sessionId}/uploads`, {
    method: 'POST',
    headers: { ...headers, authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' },
    body: Readable.from((function * () { for (let i = 0; i < payload.length; i += 64 * 1024) yield payload.subarray(i, i + 64 * 1024) })())
  })
  const body = await res.body.json() as { uploadRef: string }
  const took = Date.now() - started
  t.equal(res.statusCode, 201)
  const progress = (await gw.app.prisma.sessionEvent.findMany({ where: { sessionId, type: 'upload.progress' }, orderBy: { cursor: 'asc' } }))
    .map(e => e.payload as { bytes: number, done: boolean })
  t.ok(progress.length >= 4, `${progress.length} progress events over ${took} ms`)
  t.ok(progress.length <= Math.ceil(took / 250) + 2, 'at most one per 250 ms, plus the final one')
  t.same(progress.map(p => p.bytes), [...progress.map(p => p.bytes)].sort((a, b) => a - b), 'bytes only grow')
  t.same(progress.at(-1), { uploadRef: body.uploadRef, index: 0, filename: 'slow.mp4', bytes: video.length, done: true })
})

t.test('URL uploads', async (t) => {
  const { gw, acme, sessionId } = await setup(t)
  const urls = ['https://example.com/media/beach%20day.mp4', 'https://example.com/a/cover.webp']
  const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, payload: { urls } })
  t.equal(res.statusCode, 201, res.body)
  t.match(res.json().items, [
    { name: 'beach day.mp4', kind: 'video', mimeType: 'video/mp4', sourceUrl: urls[0], cdnUrl: /^https:\/\//, size: null, sha256: null, fps: 30 },
    { name: 'cover.webp', kind: 'image', sourceUrl: urls[1], width: 1920 }
  ])
  t.equal((await gw.sim.counters()).requests.upload, 1)
  const completed = await gw.app.prisma.sessionEvent.count({ where: { sessionId, type: 'upload.completed' } })
  t.equal(completed, 2)

  // the document says which URLs are taken (the last path segment names an accepted file):
  // anything else is refused by the schema, as the document says, not with a 415
  for (const url of ['https://example.com/setup.exe', 'https://com', 'https://example.com/']) {
    const refused = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, payload: { urls: [url] } })
    t.equal(refused.statusCode, 400, url)
    t.equal(refused.json().code, 'GW_ERR_VALIDATION')
    t.match(refused.json().errors, [{ path: '/urls/0' }])
  }
  for (const payload of [{ urls: [] }, { urls: ['ftp://example.com/a.mp4'] }, { urls: ['https://example.com/a.mp4'], extra: 1 }, {}]) {
    const bad = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, payload })
    t.equal(bad.statusCode, 400, JSON.stringify(payload))
  }
  t.equal((await gw.sim.counters()).requests.upload, 1, 'refused requests never reach the upstream')
})

t.test('another tenant\'s session: 404 and nothing sent upstream', async (t) => {
  const { gw, sessionId } = await setup(t)
  const other = await gw.tenant('other')
  const upload = await other.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'a.mp4', content: media(MP4_HEAD, 5000) }]) })
  t.equal(upload.statusCode, 404)
  t.equal(upload.json().code, 'GW_ERR_NOT_FOUND')
  const byUrl = await other.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, payload: { urls: ['https://example.com/a.mp4'] } })
  t.equal(byUrl.statusCode, 404)
  const list = await other.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}/uploads` })
  t.equal(list.statusCode, 404)
  t.equal((await gw.sim.counters()).requests.upload, 0)
  t.equal(await gw.app.prisma.sessionEvent.count({ where: { sessionId } }), 0)
})

t.test('Idempotency-Key: a retried upload is answered from the first, not sent twice', async (t) => {
  const { gw, acme, sessionId } = await setup(t)
  const request = { method: 'POST' as const, url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'once.mp4', content: media(MP4_HEAD, 100_000) }]) }
  const key = { 'idempotency-key': 'upload-1' }
  const first = await acme.as('alice', { ...request, headers: { ...request.headers, ...key } })
  t.equal(first.statusCode, 201)
  const second = await acme.as('alice', { ...request, headers: { ...request.headers, ...key } })
  t.equal(second.statusCode, 201)
  t.equal(second.headers['idempotent-replayed'], 'true')
  t.same(second.json(), first.json())
  t.equal((await gw.sim.counters()).completedUploads, 1)
  t.equal(await gw.app.prisma.upload.count(), 1)
})

t.test('over a real connection, a refusal is answered while the caller is still sending', async (t) => {
  const { gw, acme, sessionId } = await setup(t, { config: { UPLOAD_MAX_BYTES: 1024 * 1024 } })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const { port } = gw.app.server.address() as AddressInfo
  const send = async (parts: Part[]) => {
    const { payload, headers } = form(parts)
    const res = await request(`http://127.0.0.1:${port}/v1/sessions/${sessionId}/uploads`, {
      method: 'POST',
      headers: { ...headers, authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' },
      body: Readable.from((function * () { for (let i = 0; i < payload.length; i += 64 * 1024) yield payload.subarray(i, i + 64 * 1024) })())
    })
    return { status: res.statusCode, body: await res.body.json() as { code: string } }
  }
  const renamed = await send([{ filename: 'big.mp4', content: media(PNG_HEAD, 32 * 1024 * 1024) }])
  t.equal(renamed.status, 415)
  t.equal(renamed.body.code, 'GW_ERR_UNSUPPORTED_MEDIA_TYPE')
  const big = await send([{ filename: 'big.mp4', content: media(MP4_HEAD, 32 * 1024 * 1024) }])
  t.equal(big.status, 413)
  t.equal(big.body.code, 'GW_ERR_PAYLOAD_TOO_LARGE')
  t.equal(await gw.app.prisma.upload.count(), 0)
  t.equal(await until(() => established(port), n => n === 0), 0, 'the refused connections are closed')
})

t.test('a streamed body cannot be sent twice: after the upstream renews a token or session, 503 and the resend works', async (t) => {
  const { gw, acme, sessionId, upstreamSessionId } = await setup(t)
  const post = async () => await acme.as('alice', { method: 'POST', url: `/v1/sessions/${sessionId}/uploads`, ...form([{ filename: 'a.mp4', content: media(MP4_HEAD, 300_000) }]) })

  await gw.sim.control('POST', 'sessions/forget', { session_id: upstreamSessionId })
  const reset = await post()
  t.equal(reset.statusCode, 503)
  t.match(reset.json(), { code: 'GW_ERR_UNAVAILABLE', detail: /send it again/, retryAfter: 1 })
  t.equal(reset.headers['retry-after'], '1')
  const resent = await post()
  t.equal(resent.statusCode, 201)
  const session = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${sessionId}` })).json()
  t.not(session.upstreamSessionId, upstreamSessionId, 'the upload went to the new upstream session')

  const credential = await gw.app.prisma.credential.findFirstOrThrow()
  await gw.sim.control('POST', 'tokens/expire', { token: decrypt(gw.app.encryptionKey, credential.tokenCiphertext) })
  const renewed = await post()
  t.equal(renewed.statusCode, 503)
  t.equal((await post()).statusCode, 201)
  t.equal(await gw.app.prisma.upload.count(), 2)
  t.equal((await upstreamUploads(gw)).length, 2)
})
