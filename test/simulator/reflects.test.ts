// The simulator reflects what it is told, so a demo (and a user trying the gateway) sees their
// own video come back: an uploaded MP4's real duration and size, an "enhance" that puts that
// clip on the timeline, the title text the request names, a render of the timeline's own
// length and picture size; and a development token and credit allowance set at start.
import t from 'tap'
import { request } from 'undici'
import { renderMp4 } from '../../src/simulator/mp4.ts'
import { mp4Info } from '../../src/media/mp4-info.ts'
import { titleFrom } from '../../src/simulator/scenarios.ts'
import { dataFrames, multipart, startSim, until } from './helper.ts'

const ATTRIBUTION = { 'x-skill-source': 'hd-local-ai', 'x-skill-version': '1.9', 'x-skill-platform': 'test' }

async function uploadMp4 (base: string, token: string, sid: string, file: Buffer, filename = 'clip.mp4') {
  const body = multipart([{ filename, chunks: async function * () { yield file } }])
  const res = await request(`${base}/api/upload-video/nemo_agent/me/${sid}`, {
    method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': body.contentType }, body: body.body
  })
  return await res.body.json() as any
}

t.test('an uploaded MP4 is described by what it holds: duration and picture size', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const res = await uploadMp4(sim.base, token, sid, renderMp4({ width: 640, height: 360, durationMs: 5000 }))
  t.match(res.data.files[0], { filename: 'clip.mp4', duration: 5, width: 640, height: 360 })
  const state = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state
  t.match(state.video_infos[0], { filename: 'clip.mp4', duration: 5, width: 640, height: 360 })
})

t.test('"enhance" puts the uploaded clip, upscaled to 1080p, on the timeline; without an upload it asks for one', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.registered(1000)
  const sid = await sim.session(token)

  const early = dataFrames((await sim.sse(token, sid, 'enhance and upscale this video to 1080p')).text)
  t.match(JSON.stringify(early), /Upload a video first/)
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data.available, 1000, 'free')

  await uploadMp4(sim.base, token, sid, renderMp4({ width: 640, height: 360, durationMs: 5000 }), 'beach.mp4')
  const frames = dataFrames((await sim.sse(token, sid, 'enhance and upscale this video to 1080p')).text)
  const names = frames.flatMap((f) => f.content?.parts ?? []).map((p: any) => p.functionCall?.name ?? p.functionResponse?.name ?? 'text')
  t.same(names, ['enhance_video', 'enhance_video', 'text'])
  t.match(JSON.stringify(frames), /beach\.mp4 is enhanced and upscaled to 1080p/)
  const draft = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.draft
  t.match(draft, { t: [{ tt: 0, sg: [{ src: /hd_.*beach\.mp4$/, st: 0, d: 5000 }] }], d: 5000, m: { width: 1920, height: 1080 } })
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data.available, 900, 'charged like a generation')

  // the render of that timeline is a 5 s 1920x1080 MP4
  await sim.call('POST', '/__sim/config', { body: { renderDurationMs: 20, pollShape: 'both' } })
  await sim.call('POST', '/api/render/proxy/lambda', { token, headers: ATTRIBUTION, body: { id: 'r1', sessionId: sid, draft } })
  const done = await until(() => sim.call('GET', '/api/render/proxy/lambda/r1', { token }), (r) => r.body.status === 'completed')
  t.match(done.body.output, { duration: 5 })
  const file = await request(done.body.output.url)
  const info = mp4Info(Buffer.from(await file.body.arrayBuffer()))
  t.match(info, { durationMs: 5000, width: 1920, height: 1080, brand: 'isom' })
})

t.test('the title a request names is the title added', async (t) => {
  t.equal(titleFrom('add a title Hello'), 'Hello')
  t.equal(titleFrom('add a title "Big Day" please'), 'Big Day')
  t.equal(titleFrom('put a title saying welcome home, thanks'), 'welcome home')
  t.equal(titleFrom('[scenario:edit] add a title'), 'Urban Dreams', 'nothing named: the stock title')
  t.equal(titleFrom('add a title to my video'), 'Urban Dreams', 'lower-case words are not a title')

  const sim = await startSim(t)
  const { token } = await sim.registered(1000)
  const sid = await sim.session(token)
  const text = (await sim.sse(token, sid, '[scenario:edit] add a title Hello')).text
  t.match(text, /The title \\"Hello\\" now shows/)
  const draft = (await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.data.state.draft
  t.same(draft.t, [{ tt: 7, sg: [{ text: 'Hello', st: 0, d: 3000 }] }])
})

t.test('development: a fixed registered token (devToken) and the anonymous allowance', async (t) => {
  const sim = await startSim(t, { devToken: 'nmv_dev_local', anonymousCredits: 1000 })
  const balance = async (token: string) => (await sim.call('GET', '/api/credits/balance/simple', { token })).body
  t.match(await balance('nmv_dev_local'), { code: 0, data: { available: 10000 } })
  const { token } = await sim.anon()
  t.equal((await balance(token)).data.available, 1000)
  await sim.call('POST', '/__sim/reset')
  t.match(await balance('nmv_dev_local'), { code: 0, data: { available: 10000 } }, 'still accepted after a reset')
})
