// Exports end to end: a turn, an export, the render polled to completion, the export.completed
// webhook received and verified with the standardwebhooks library, the MP4 downloaded.
import t from 'tap'
import { exportSetup, renderableSession, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'

const isMp4 = (b: Buffer) => b.subarray(4, 8).toString('latin1') === 'ftyp'

t.test('turn -> export -> verified webhook -> MP4 download', async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t)
  const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, payload: { quality: 'high', resolution: '1080p' } })
  t.equal(res.statusCode, 202, res.body)
  const started = res.json()
  t.equal(res.headers.location, `/v1/exports/${started.id}`)
  t.equal(started.status, 'rendering')
  t.equal(started.sessionId, session.id)
  t.equal(started.downloadUrl, null)
  t.match(started.renderId, /^render_[0-9a-f]{32}$/)

  const [delivery] = await receiver.waitFor(1)
  t.ok(delivery!.verifiedWith, 'the signature verifies with the standardwebhooks library')
  t.equal(delivery!.json.type, 'export.completed')
  t.match(delivery!.headers['webhook-id'], /^msg_[0-9a-f]{32}$/)
  t.match(delivery!.json.data, { exportId: started.id, sessionId: session.id, userId: 'alice', status: 'completed', progress: 100 })
  t.match(delivery!.json.data.downloadUrl, new RegExp(`/v1/exports/${started.id}/download$`))

  const done = (await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}` })).json()
  t.equal(done.status, 'completed')
  t.equal(done.progress, 100)
  t.equal(done.downloadUrl, delivery!.json.data.downloadUrl)

  const file = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(file.statusCode, 200)
  t.equal(file.headers['content-type'], 'video/mp4')
  t.ok(isMp4(file.rawPayload), 'the bytes are an MP4')
  const part = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download`, headers: { range: 'bytes=4-7' } })
  t.equal(part.statusCode, 206, 'a range request passes through')
  t.equal(part.body, 'ftyp')
  t.match(part.headers['content-range'], /^bytes 4-7\/\d+$/)
  const redirect = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download?redirect=true` })
  t.equal(redirect.statusCode, 302)
  t.match(redirect.headers.location, /\/render-result\/render_/)

  const events = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json().items.map((e: any) => e.type)
  t.ok(events.includes('export.started'))
  t.equal(events.at(-1), 'export.completed', 'the session log carries the export')

  const endpoint = (await acme.as('alice', { method: 'GET', url: '/v1/webhooks/endpoints' })).json().items[0]
  const messages = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages` })).json().items
  t.equal(messages.length, 1)
  t.equal(messages[0].status, 'delivered')
  t.equal(messages[0].webhookId, delivery!.headers['webhook-id'])
  const detail = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/messages/${messages[0].id}` })).json()
  t.equal(detail.attemptLog.length, 1)
  t.equal(detail.attemptLog[0].statusCode, 204)
  void gw
})
