import t from 'tap'
import { request } from 'undici'
import { startSim, type Sim } from './helper.ts'

const ATTRIBUTION = { 'x-skill-source': 'hd-local-ai', 'x-skill-version': '1.9', 'x-skill-platform': 'unknown' }
const DRAFT = { t: [{ tt: 0, sg: [{ src: 'https://cdn.local/sim/clip1.mp4', st: 0, d: 10000 }] }], d: 10000, m: { title: 'x', width: 1920, height: 1080 } }
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms))

async function submit (sim: Sim, token: string, body: Record<string, unknown>, headers: Record<string, string> = ATTRIBUTION) {
  return sim.call('POST', '/api/render/proxy/lambda', { token, headers, body: { draft: DRAFT, output: { format: 'mp4', quality: 'high' }, ...body } })
}

/** Top-level boxes as [type, offset, size]. */
function boxes (buf: Buffer, start = 0, end = buf.length): Array<[string, number, number]> {
  const out: Array<[string, number, number]> = []
  for (let at = start; at < end;) {
    const size = buf.readUInt32BE(at)
    out.push([buf.toString('latin1', at + 4, at + 8), at, size])
    if (size < 8) break
    at += size
  }
  return out
}

t.test('402 without attribution; submit; duplicate id; 1001; unknown session', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const refused = await submit(sim, token, { id: 'r1', sessionId: sid }, { 'x-skill-source': 'nemo-gateway' })
  t.equal(refused.status, 402)
  t.equal(refused.body.success, false)

  const ok = await submit(sim, token, { id: 'r1', sessionId: sid })
  t.same(ok.body, { success: true, data: { id: 'r1', status: 'pending', progress: 5 } })
  t.same((await submit(sim, token, { id: 'r1', sessionId: sid })).body, { success: false, error: 'duplicate id' })
  t.equal((await submit(sim, token, { sessionId: sid })).status, 400)
  t.equal((await submit(sim, token, { id: 'r2', sessionId: '9' })).status, 404)
  t.equal((await submit(sim, 'nmv_usr_x', { id: 'r3' })).body.code, 1001)

  await sim.call('POST', '/__sim/config', { body: { requireAttribution: false } })
  t.equal((await submit(sim, token, { id: 'r4' }, {})).body.success, true)
})

t.test('lifecycle pending -> processing -> completed, shape A; download is an MP4', async (t) => {
  // A job's duration is fixed at submit: a long one is reliably pending on the first poll.
  const sim = await startSim(t, { renderDurationMs: 60000 })
  const { token } = await sim.anon()
  await submit(sim, token, { id: 'slow' })
  const first = await sim.call('GET', '/api/render/proxy/lambda/slow', { token })
  t.match(first.body, { success: true, data: { id: 'slow', status: 'pending', progress: 5, createdAt: Number } })
  t.notOk('outputUrl' in first.body.data)
  t.equal((await sim.call('GET', '/api/render/proxy/slow/download', { token })).status, 409, 'not ready')

  await sim.call('POST', '/__sim/config', { body: { renderDurationMs: 500 } })
  await submit(sim, token, { id: 'render_a' })
  const poll = () => sim.call('GET', '/api/render/proxy/lambda/render_a', { token })
  let done = await poll()
  const seen: Array<{ status: string, progress: number }> = []
  while (done.body.data.status !== 'completed') {
    await sleep(25)
    done = await poll()
    seen.push(done.body.data)
  }
  const mid = seen.filter((s) => s.status === 'processing')
  t.ok(mid.length > 0, 'processing observed')
  t.ok(mid.every((s) => s.progress > 5 && s.progress < 100), 'progress in between')
  t.same(mid.map((s) => s.progress), mid.map((s) => s.progress).sort((x, y) => x - y), 'progress never goes back')
  t.match(done.body.data, { status: 'completed', progress: 100, outputUrl: /\/render-result\/render_a\.mp4$/, completedAt: Number })
  t.equal(done.body.data.completedAt - done.body.data.createdAt, 500)

  const dl = await request(`${sim.base}/api/render/proxy/render_a/download`, { headers: { authorization: `Bearer ${token}` } })
  t.equal(dl.statusCode, 200)
  t.equal(dl.headers['content-type'], 'video/mp4')
  const mp4 = Buffer.from(await dl.body.arrayBuffer())
  t.equal(mp4.toString('latin1', 4, 8), 'ftyp', 'starts with an ftyp box')
  const top = boxes(mp4)
  t.same(top.map((b) => b[0]), ['ftyp', 'moov', 'mdat'])
  t.equal(top.reduce((n, b) => n + b[2], 0), mp4.length, 'boxes cover the file')
  const stco = mp4.indexOf('stco')
  const offset = mp4.readUInt32BE(stco + 12)
  t.equal(offset, top[2]![1] + 8, 'chunk offset points into mdat')
  t.equal(mp4[offset + 4], 0x65, 'sample is an IDR NAL unit')
  t.equal(mp4[mp4.indexOf('avcC') + 4 + 8], 0x67, 'avcC carries the SPS')

  const cdn = await request(done.body.data.outputUrl)
  t.equal(cdn.statusCode, 200, 'outputUrl is fetchable without auth')
  t.same(Buffer.from(await cdn.body.arrayBuffer()), mp4)
  t.equal((await sim.counters()).requests['render-result'], 1)

  const other = await sim.anon()
  t.equal((await sim.call('GET', '/api/render/proxy/lambda/render_a', { token: other.token })).status, 404, 'renders are per user')
  t.equal((await sim.call('GET', '/api/render/proxy/lambda/nope', { token })).body.success, false)
})

t.test('poll shapes B and both', async (t) => {
  const sim = await startSim(t, { renderDurationMs: 20, pollShape: 'B' })
  const { token } = await sim.anon()
  await submit(sim, token, { id: 'rb' })
  await sleep(40)
  const b = (await sim.call('GET', '/api/render/proxy/lambda/rb', { token })).body
  t.match(b, { taskId: 'rb', status: 'completed', progress: 100, output: { url: /rb\.mp4$/, duration: 10, size: Number } })
  t.notOk('data' in b)
  await sim.call('POST', '/__sim/config', { body: { pollShape: 'both' } })
  const both = (await sim.call('GET', '/api/render/proxy/lambda/rb', { token })).body
  t.match(both, { success: true, taskId: 'rb', status: 'completed', output: { url: String }, data: { id: 'rb', status: 'completed', outputUrl: String } })
})

t.test('failures: seeded failure rate, invalid draft, cancel', async (t) => {
  const sim = await startSim(t, { renderDurationMs: 40, renderFailureRate: 1 })
  const { token } = await sim.anon()
  await submit(sim, token, { id: 'unlucky' })
  await sim.call('POST', '/__sim/config', { body: { renderFailureRate: 0, renderDurationMs: 60000 } })
  await submit(sim, token, { id: 'cancel-me' })
  t.same((await sim.call('POST', '/api/render/proxy/lambda/cancel-me/cancel', { token })).body,
    { success: true, data: { id: 'cancel-me', status: 'failed', cancelled: true } })
  await sleep(60)
  t.match((await sim.call('GET', '/api/render/proxy/lambda/unlucky', { token })).body.data, { status: 'failed', error: /render failed/ })
  t.match((await sim.call('GET', '/api/render/proxy/lambda/cancel-me', { token })).body.data, { status: 'failed', error: 'cancelled' })
  t.equal((await sim.call('POST', '/api/render/proxy/lambda/unlucky/cancel', { token })).body.success, false, 'too late to cancel')
  t.equal((await sim.call('GET', '/api/render/proxy/unlucky/download', { token })).status, 409)

  await sim.call('POST', '/__sim/config', { body: { renderDurationMs: 40 } })
  await submit(sim, token, { id: 'empty', draft: { t: [] } })
  await submit(sim, token, { id: 'fine' })
  await sleep(60)
  t.match((await sim.call('GET', '/api/render/proxy/lambda/empty', { token })).body.data, { status: 'failed', error: 'invalid draft' })
  t.equal((await sim.call('GET', '/api/render/proxy/lambda/fine', { token })).body.data.status, 'completed')
})

t.test('a failure rate between 0 and 1 fails the same ids for the same seed', async (t) => {
  const fates = async (seed: number) => {
    const sim = await startSim(t, { renderDurationMs: 10, renderFailureRate: 0.5, seed })
    const { token } = await sim.anon()
    for (let i = 0; i < 16; i++) await submit(sim, token, { id: `r${i}` })
    await sleep(20)
    const out: string[] = []
    for (let i = 0; i < 16; i++) out.push((await sim.call('GET', `/api/render/proxy/lambda/r${i}`, { token })).body.data.status)
    return out.join(',')
  }
  const a = await fates(7)
  t.equal(await fates(7), a)
  t.ok(a.includes('failed') && a.includes('completed'), a)
})
