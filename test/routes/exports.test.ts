// Exports end to end: a turn, an export, the render polled to completion, the export.completed
// webhook received and verified with the standardwebhooks library, the MP4 downloaded.
import t from 'tap'
import { exportSetup, settled } from '../helpers/exports.ts'

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
  const counters = await gw.sim.counters()
  t.equal(counters.requests['render-submit'], 1, 'one render submitted')
  const metrics = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gateway_exports_total\{status="completed"[^}]*\} 1/, 'exports are counted in /metrics')
  t.match(metrics, /gateway_webhook_attempts_total\{outcome="delivered"[^}]*\} 1/, 'webhook attempts too')
})

t.test('a timeline with nothing to render is refused, and nothing is stored', async (t) => {
  const { gw, acme } = await exportSetup(t, { endpoint: false })
  const empty = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${empty.id}/exports` })
  t.equal(res.statusCode, 422)
  t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8')
  t.equal(res.json().code, 'GW_ERR_NOTHING_TO_EXPORT')
  t.match(res.json().detail, /Upload media or ask for an edit/)
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/exports' })).json().items.length, 0)
  t.equal((await gw.sim.counters()).requests['render-submit'], 0)
  const bad = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${empty.id}/exports`, payload: { quality: 'ultra' } })
  t.equal(bad.statusCode, 400)
  t.equal(bad.json().code, 'GW_ERR_VALIDATION')
})

t.test('a retried POST with the same Idempotency-Key never starts a second render', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  const post = async () => await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, headers: { 'idempotency-key': 'export-1' }, payload: {} })
  const [a, b] = await Promise.all([post(), post()])
  const c = await post()
  const ids = new Set([a, b, c].filter(r => r.statusCode === 202).map(r => r.json().id))
  t.equal(ids.size, 1, 'one export id')
  t.ok([a, b, c].every(r => r.statusCode === 202), 'every call answers 202 with the export: the export keeps the key, no 409 in flight')
  t.equal(c.json().status, 'rendering', 'a later retry sees the export as it is now')
  const other = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, headers: { 'idempotency-key': 'export-1' }, payload: { quality: 'low' } })
  t.equal(other.statusCode, 422, 'another request with the same key is still refused')
  t.equal((await gw.sim.counters()).requests['render-submit'], 1, 'one render upstream')
  // GraphQL shares the key: the same export again
  const gql = await acme.as('alice', {
    method: 'POST',
    url: '/graphql',
    payload: { query: `mutation { startExport(sessionId: "${session.id}", idempotencyKey: "export-1") { id status } }` }
  })
  t.equal(gql.json().data.startExport.id, [...ids][0])
  t.equal((await gw.sim.counters()).requests['render-submit'], 1)
})

t.test('several exports per session, each its own render; listed and filtered', async (t) => {
  const { acme, session, receiver } = await exportSetup(t)
  const a = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, payload: { quality: 'low' } })).json()
  const b = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, payload: { quality: 'medium' } })).json()
  t.not(a.renderId, b.renderId)
  await receiver.waitFor(2)
  t.equal(new Set(receiver.deliveries.map(d => d.json.data.exportId)).size, 2)
  const all = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/exports` })).json()
  t.same(all.items.map((e: any) => e.id), [b.id, a.id], 'newest first')
  const completed = (await acme.as('alice', { method: 'GET', url: `/v1/exports?sessionId=${session.id}&status=completed&limit=1` })).json()
  t.equal(completed.items.length, 1)
  t.ok(completed.nextCursor)
  const next = (await acme.as('alice', { method: 'GET', url: `/v1/exports?sessionId=${session.id}&status=completed&limit=1&cursor=${completed.nextCursor}` })).json()
  t.equal(next.items[0].id, a.id)
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/exports?status=failed' })).json().items.length, 0)
})

t.test('cancel: the render is cancelled upstream, the export and a webhook say so', async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t, { sim: { renderDurationMs: 60_000 } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const res = await acme.as('alice', { method: 'POST', url: `/v1/exports/${started.id}/cancel` })
  t.equal(res.statusCode, 200)
  t.equal(res.json().status, 'cancelled')
  t.equal((await gw.sim.counters()).requests['render-cancel'], 1, 'the upstream was told')
  const [d] = await receiver.waitFor(1)
  t.equal(d!.json.type, 'export.cancelled')
  const again = await acme.as('alice', { method: 'POST', url: `/v1/exports/${started.id}/cancel` })
  t.equal(again.statusCode, 409)
  t.equal(again.json().code, 'GW_ERR_EXPORT_FINISHED')
  const dl = await acme.as('alice', { method: 'GET', url: `/v1/exports/${started.id}/download` })
  t.equal(dl.statusCode, 409)
  t.equal(dl.json().code, 'GW_ERR_EXPORT_NOT_READY')
})

t.test('a failed render is retried once with a new render id, then the export fails with a reason', async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t, { sim: { renderFailureRate: 1 } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const [d] = await receiver.waitFor(1)
  t.equal(d!.json.type, 'export.failed')
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'failed')
  t.equal(done.attempts, 2)
  t.not(done.renderId, started.renderId, 'the retry used a new render id')
  t.match(done.error, { reason: 'render_failed', retryable: true })
  t.match(done.error.message, /timed out.*attempt 2 of 2/)
  t.equal((await gw.sim.counters()).requests['render-submit'], 2)
  const events = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json().items
  t.ok(events.some((e: any) => e.type === 'export.progress' && e.payload.retry?.reason === 'render_failed'), 'the retry is in the log')
})

t.test('a lost render (404 on poll) is resubmitted, a duplicate id gets a fresh one', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  await gw.sim.fault({ endpoint: 'render-submit', body: { success: false, error: 'duplicate id' } })
  // the first 404 answers "is that duplicate ours?" (no: a fresh id), the second is the lost render
  await gw.sim.fault({ endpoint: 'render-poll', count: 2, status: 404, body: { success: false, error: 'render not found' } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  t.equal(started.status, 'rendering')
  t.match(started.renderId, /^render_[0-9a-f]{32}_1_/, 'a duplicate id was answered with a new one')
  const done = await settled(acme, 'alice', started.id)
  t.equal(done.status, 'completed', 'the lost render was submitted again and completed')
  t.equal(done.attempts, 2)
  const events = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json().items
  t.ok(events.some((e: any) => e.type === 'export.progress' && e.payload.retry?.reason === 'lost'))
})

t.test('upstream refusals: 2001 -> 402 with the bind link, 402 -> GW_ERR_PLAN_REQUIRED; nothing is kept', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  await gw.sim.fault({ endpoint: 'render-submit', status: 402 })
  const plan = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  t.equal(plan.statusCode, 402)
  t.equal(plan.json().code, 'GW_ERR_PLAN_REQUIRED')
  t.match(plan.json().detail, /register to unlock export/)
  await gw.sim.fault({ endpoint: 'render-submit', code: 2001, message: 'insufficient credits' })
  const noCredits = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  t.equal(noCredits.statusCode, 402)
  t.equal(noCredits.json().code, 'GW_ERR_CREDITS_EXHAUSTED')
  t.match(noCredits.json().hint, /register\?bind=anon_/)
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/exports' })).json().items.length, 0, 'no export row is left behind')
})

t.test('say "export" starts an export; a GUI "click Export" points at the real route', async (t) => {
  const { acme, session, receiver } = await exportSetup(t)
  for (const text of ['send me the video', '导出']) {
    const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text } })
    t.equal(res.statusCode, 202, text)
    t.equal(res.json().action, 'export')
    t.equal(res.json().export.status, 'rendering')
  }
  await receiver.waitFor(2)
  const gql = await acme.as('alice', {
    method: 'POST',
    url: '/graphql',
    payload: { query: `mutation { say(sessionId: "${session.id}", text: "download") { action ... on SayExport { export { id status } } } }` }
  })
  t.equal(gql.json().data.say.export.status, 'rendering')
  // the turn that made the draft told a GUI user to click Export
  const events = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json().items
  const actions = events.filter((e: any) => e.type === 'text' && e.payload.actions).flatMap((e: any) => e.payload.actions)
  const exportAction = actions.find((a: any) => a.action === 'start_export')
  t.ok(exportAction, 'the agent told a GUI user to export')
  t.same(exportAction.api, { method: 'POST', path: `/v1/sessions/${session.id}/exports` })
})

t.test('GraphQL: startExport, export(id), exports(), the session\'s exports, cancelExport', async (t) => {
  const { acme, session } = await exportSetup(t, { endpoint: false, sim: { renderDurationMs: 60_000 } })
  const gql = async (query: string) => (await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query } })).json()
  const started = await gql(`mutation { startExport(sessionId: "${session.id}", quality: medium, resolution: "720p") { id status quality resolution downloadUrl } }`)
  const id = started.data.startExport.id
  t.match(started.data.startExport, { status: 'rendering', quality: 'medium', resolution: '720p', downloadUrl: null })
  const read = await gql(`{ export(id: "${id}") { id sessionId } exports(status: rendering) { items { id } } session(id: "${session.id}") { exports { items { id } } } }`)
  t.equal(read.data.export.sessionId, session.id)
  t.same(read.data.exports.items.map((e: any) => e.id), [id])
  t.same(read.data.session.exports.items.map((e: any) => e.id), [id])
  const cancelled = await gql(`mutation { cancelExport(id: "${id}") { status } }`)
  t.equal(cancelled.data.cancelExport.status, 'cancelled')
  const bad = await gql(`mutation { startExport(sessionId: "${session.id}", resolution: "huge") { id } }`)
  t.equal(bad.errors[0].extensions.code, 'GW_ERR_VALIDATION')
})

t.test('another tenant\'s or user\'s export is 404 everywhere', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const other = await gw.tenant('globex')
  const probes = [
    { method: 'GET', url: `/v1/exports/${started.id}` },
    { method: 'GET', url: `/v1/exports/${started.id}/download` },
    { method: 'GET', url: `/v1/exports/${started.id}/download?redirect=true` },
    { method: 'POST', url: `/v1/exports/${started.id}/cancel` },
    { method: 'GET', url: `/v1/sessions/${session.id}/exports` },
    { method: 'POST', url: `/v1/sessions/${session.id}/exports` },
    { method: 'GET', url: `/v1/exports?sessionId=${session.id}` }
  ] as const
  for (const [who, as] of [['globex/alice', other.as], ['acme/bob', acme.as]] as const) {
    for (const p of probes) {
      const res = await as(who.endsWith('bob') ? 'bob' : 'alice', { method: p.method, url: p.url })
      t.equal(res.statusCode, 404, `${who} ${p.method} ${p.url}`)
    }
    const list = await as(who.endsWith('bob') ? 'bob' : 'alice', { method: 'GET', url: '/v1/exports' })
    t.equal(list.json().items.length, 0, `${who} lists none`)
    const gql = await as(who.endsWith('bob') ? 'bob' : 'alice', { method: 'POST', url: '/graphql', payload: { query: `{ export(id: "${started.id}") { id } }` } })
    t.equal(gql.json().errors[0].extensions.code, 'GW_ERR_NOT_FOUND')
  }
})
