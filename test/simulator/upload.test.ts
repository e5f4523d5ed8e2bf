import { createHash } from 'node:crypto'
import { Readable } from 'node:stream'
import t from 'tap'
import { request } from 'undici'
import { bytes, multipart, startSim, until } from './helper.ts'

async function sha256 (chunks: AsyncIterable<Buffer>): Promise<string> {
  const h = createHash('sha256')
  for await (const c of chunks) h.update(c)
  return h.digest('hex')
}

async function upload (base: string, token: string, sid: string, body: { body: Readable, contentType: string }) {
  const res = await request(`${base}/api/upload-video/nemo_agent/me/${sid}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': body.contentType },
    body: body.body
  })
  return { status: res.statusCode, body: await res.body.json() as any }
}

t.test('streamed multi-file upload: sha256, §3.5 response shape, video_infos appended', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const big = 3 * 1024 * 1024 + 17
  const res = await upload(sim.base, token, sid, multipart([
    { filename: 'clip.MP4', chunks: () => bytes(big) },
    { filename: 'cover.png', chunks: () => bytes(1000, 100, 3) },
    { filename: 'song.m4a', chunks: () => bytes(0) }
  ]))
  t.equal(res.status, 200)
  t.equal(res.body.code, 0)
  t.equal(res.body.data.session_state_applied, true)
  const [video, image, audio] = res.body.data.files
  t.match(video, { filename: 'clip.MP4', file_type: 'video', cdn_url: /^https:\/\//, duration: Number, width: 1920, height: 1080, fps: 30 })
  t.equal(video.hash, await sha256(bytes(big)))
  t.match(image, { file_type: 'image', hash: await sha256(bytes(1000, 100, 3)) })
  t.match(audio, { file_type: 'audio', hash: createHash('sha256').digest('hex') })

  t.same((await sim.call('GET', '/__sim/uploads')).body.map((u: any) => [u.filename, u.size]),
    [['clip.MP4', big], ['cover.png', 1000], ['song.m4a', 0]])
  const infos = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.video_infos
  t.equal(infos.length, 3)
  t.equal((await sim.counters()).completedUploads, 1)
})

t.test('4001 unsupported type, 4002 too large, 1002 unknown session, 1001 without token', async (t) => {
  const sim = await startSim(t, { uploadMaxBytes: 1000 })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const bad = await upload(sim.base, token, sid, multipart([{ filename: 'ok.mp4', chunks: () => bytes(10) }, { filename: 'notes.txt', chunks: () => bytes(10) }]))
  t.match(bad.body, { code: 4001, message: /notes\.txt/, data: null })
  const large = await upload(sim.base, token, sid, multipart([{ filename: 'big.mov', chunks: () => bytes(1001) }]))
  t.match(large.body, { code: 4002, data: null })
  const exact = await upload(sim.base, token, sid, multipart([{ filename: 'fits.webm', chunks: () => bytes(1000) }]))
  t.equal(exact.body.code, 0)
  t.equal((await sim.call('GET', '/__sim/uploads')).body.length, 1, 'rejected requests record nothing')

  t.equal((await upload(sim.base, token, '42', multipart([{ filename: 'a.mp4', chunks: () => bytes(10) }]))).body.code, 1002)
  const anonymous = await request(`${sim.base}/api/upload-video/nemo_agent/me/${sid}`, { method: 'POST', body: 'x', headers: { 'content-type': 'multipart/form-data; boundary=x' } })
  t.equal(((await anonymous.body.json()) as any).code, 1001)
  const none = await upload(sim.base, token, sid, multipart([]))
  t.equal(none.status, 400)
})

t.test('JSON URL variant', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await sim.call('POST', `/api/upload-video/nemo_agent/me/${sid}`, { token, body: { urls: ['https://example.com/media/beach%20day.mp4'], source_type: 'url' } })
  t.match(res.body, { code: 0, data: { files: [{ filename: 'beach day.mp4', file_type: 'video', hash: /^[0-9a-f]{64}$/ }], session_state_applied: true } })
  const bad = await sim.call('POST', `/api/upload-video/nemo_agent/me/${sid}`, { token, body: { urls: ['https://example.com/a.exe'], source_type: 'url' } })
  t.equal(bad.body.code, 4001)
  t.equal((await sim.call('POST', `/api/upload-video/nemo_agent/me/${sid}`, { token, body: { urls: [] } })).status, 400)
})

t.test('an upload aborted by the client is counted and records nothing', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const ac = new AbortController()
  let sent = 0
  const { body, contentType } = multipart([{
    filename: 'partial.mp4',
    async * chunks () {
      for await (const c of bytes(50 * 1024 * 1024)) {
        sent += c.length
        if (sent > 512 * 1024) {
          ac.abort()
          await new Promise(() => {})
        }
        yield c
      }
    }
  }])
  await t.rejects(request(`${sim.base}/api/upload-video/nemo_agent/me/${sid}`, {
    method: 'POST', signal: ac.signal, headers: { authorization: `Bearer ${token}`, 'content-type': contentType }, body
  }))
  const counters = await until(() => sim.counters(), (c) => c.abortedUploads === 1)
  t.equal(counters.abortedUploads, 1)
  t.equal(counters.completedUploads, 0)
  t.same((await sim.call('GET', '/__sim/uploads')).body, [])
  t.same((await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.video_infos, [])
})

t.test('throttled uploads take at least size / rate', async (t) => {
  const sim = await startSim(t, { uploadThrottleBytesPerSec: 1024 * 1024 })
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const started = Date.now()
  const res = await upload(sim.base, token, sid, multipart([{ filename: 'slow.mp4', chunks: () => bytes(256 * 1024) }]))
  t.equal(res.body.code, 0)
  t.ok(Date.now() - started >= 200, `took ${Date.now() - started} ms`)
})
