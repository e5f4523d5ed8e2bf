// Webhook endpoints and deliveries: a real receiver that verifies every message with the
// standardwebhooks library, told to fail in the ways receivers fail.
import t from 'tap'
import { Webhook } from 'standardwebhooks'
import { buildGateway, type TestGateway } from '../helpers/app.ts'
import { exportSetup, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'
import { encrypt } from '../../src/db/crypto.ts'

t.test('endpoints: create (secret once, encrypted at rest), list, get, update, delete; tenant resources', async (t) => {
  const { gw, acme, receiver } = await exportSetup(t, { endpoint: false })
  const noUser = (opts: any) => gw.app.inject({ ...opts, headers: { authorization: `Bearer ${acme.key}`, ...opts.headers } })
  const created = await noUser({ method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url, events: ['export.completed'] } })
  t.equal(created.statusCode, 201, 'X-User-Id is not needed')
  const ep = created.json()
  gw.secret(ep.secret)
  t.match(ep.secret, /^whsec_[A-Za-z0-9+/]{43}=$/)
  t.same(ep.events, ['export.completed'])
  const row = await gw.app.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: ep.id } })
  t.notOk(JSON.stringify(row.secrets).includes(ep.secret.slice(6)), 'the secret is encrypted at rest')
  const got = (await acme.as('someone', { method: 'GET', url: `/v1/webhooks/endpoints/${ep.id}` })).json()
  t.equal(got.secret, undefined, 'the secret is shown once')
  t.equal(got.url, receiver.url, 'X-User-Id is accepted and ignored')
  const listed = (await noUser({ method: 'GET', url: '/v1/webhooks/endpoints' })).json()
  t.same(listed.items.map((e: any) => e.id), [ep.id])
  const updated = await noUser({ method: 'PATCH', url: `/v1/webhooks/endpoints/${ep.id}`, payload: { enabled: false, description: 'paused' } })
  t.match(updated.json(), { enabled: false, description: 'paused', disabledReason: 'disabled by the tenant' })
  const unknown = await noUser({ method: 'PATCH', url: `/v1/webhooks/endpoints/${ep.id}`, payload: { events: ['export.exploded'] } })
  t.equal(unknown.statusCode, 400)
  t.equal(unknown.json().code, 'GW_ERR_VALIDATION')

  const other = await gw.tenant('globex')
  for (const [method, url] of [['GET', `/v1/webhooks/endpoints/${ep.id}`], ['PATCH', `/v1/webhooks/endpoints/${ep.id}`], ['DELETE', `/v1/webhooks/endpoints/${ep.id}`],
    ['POST', `/v1/webhooks/endpoints/${ep.id}/rotate-secret`], ['GET', `/v1/webhooks/endpoints/${ep.id}/messages`], ['POST', `/v1/webhooks/endpoints/${ep.id}/recover`]] as const) {
    const res = await other.as('alice', { method, url, payload: method === 'PATCH' ? {} : method === 'POST' && url.endsWith('recover') ? { since: new Date(0).toISOString() } : undefined })
    t.equal(res.statusCode, 404, `another tenant: ${method} ${url}`)
  }
  t.equal((await other.as('alice', { method: 'GET', url: '/v1/webhooks/endpoints' })).json().items.length, 0)
  const gql = await other.as('alice', { method: 'POST', url: '/graphql', payload: { query: `mutation { deleteWebhookEndpoint(id: "${ep.id}") }` } })
  t.equal(gql.json().errors[0].extensions.code, 'GW_ERR_NOT_FOUND')

  const deleted = await noUser({ method: 'DELETE', url: `/v1/webhooks/endpoints/${ep.id}` })
  t.equal(deleted.statusCode, 204)
  t.equal((await noUser({ method: 'GET', url: `/v1/webhooks/endpoints/${ep.id}` })).statusCode, 404)
})

/** Every column of every table holding `needle` (cast to text: text, json, arrays, anything). */
async function columnsHolding (gw: TestGateway, needle: string): Promise<string[]> {
  const columns = await gw.app.prisma.$queryRawUnsafe<Array<{ schema: string, table: string, column: string }>>(`
    SELECT c.table_schema AS schema, c.table_name AS table, c.column_name AS column
    FROM information_schema.columns c JOIN information_schema.tables t USING (table_schema, table_name)
    WHERE t.table_type = 'BASE TABLE' AND c.table_schema NOT IN ('pg_catalog', 'information_schema')`)
  const found: string[] = []
  for (const { schema, table, column } of columns) {
    const rows = await gw.app.prisma.$queryRawUnsafe<Array<{ n: bigint }>>(
      `SELECT count(*) AS n FROM "${schema}"."${table}" WHERE strpos("${column}"::text, $1) > 0`, needle)
    if (Number(rows[0]!.n) > 0) found.push(`${schema}.${table}.${column}`)
  }
  if (columns.length < 20) throw new Error(`only ${columns.length} columns scanned`)
  return found
}

t.test('an idempotent endpoint creation stores its secret nowhere in plain; a retry reads it from the encrypted column', async (t) => {
  const gw = await buildGateway(t, { contract: true, config: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' } })
  const acme = await gw.tenant('acme')
  const create = async () => await acme.as('alice', {
    method: 'POST', url: '/v1/webhooks/endpoints', headers: { 'idempotency-key': 'endpoint-1' }, payload: { url: 'http://127.0.0.1:9/hook', description: 'one' }
  })
  const first = await create()
  t.equal(first.statusCode, 201)
  const { secret, ...endpoint } = first.json()
  gw.secret(secret)
  t.match(secret, /^whsec_/)
  t.equal(await gw.app.prisma.idempotencyRecord.count({ where: { state: 'completed' } }), 1, 'the answer was recorded')
  t.same(await columnsHolding(gw, secret), [], 'the secret is in no column of any table')
  t.same(await columnsHolding(gw, secret.slice('whsec_'.length)), [], 'nor its key material without the prefix')

  const retry = await create()
  t.equal(retry.statusCode, 201)
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.same(retry.json(), first.json(), 'a retry answers what the first call did, secret included')
  t.equal(await gw.app.prisma.webhookEndpoint.count(), 1, 'one endpoint')
  t.same(await columnsHolding(gw, secret), [], 'the retry stored no secret either')

  // the retry's secret comes from the endpoint's encrypted secrets: once rotated away, it is gone
  const rotated = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id as string}/rotate-secret`, payload: { overlapSeconds: 0 } })
  t.equal(rotated.statusCode, 200)
  gw.secret(rotated.json().secret)
  const afterRotation = await create()
  t.equal(afterRotation.statusCode, 201)
  t.match(afterRotation.json(), { ...endpoint, secret: null, secretHint: /rotate-secret/ })
  t.notMatch(afterRotation.body, /whsec_/, 'no secret at all: neither the old one nor the new one')
})

t.test('receivers on private, loopback or link-local addresses are refused unless allowed', async (t) => {
  const gw = await buildGateway(t, { contract: true, config: { WEBHOOK_ALLOWED_CIDRS: '' } })
  const acme = await gw.tenant('acme')
  for (const url of ['http://127.0.0.1:9/hook', 'http://localhost:9/hook', 'http://10.1.2.3/hook', 'http://169.254.169.254/latest', 'http://[::1]:9/x', 'http://[::ffff:192.168.0.1]/x', 'http://100.64.0.1/x']) {
    const res = await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url } })
    t.equal(res.statusCode, 422, url)
    t.equal(res.json().code, 'GW_ERR_WEBHOOK_URL_NOT_ALLOWED', url)
  }
  const ftp = await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: 'ftp://example.com/x' } })
  t.equal(ftp.json().code, 'GW_ERR_VALIDATION')
  const gql = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: 'mutation { createWebhookEndpoint(url: "http://127.0.0.1:1/x") { secret } }' } })
  t.equal(gql.json().errors[0].extensions.code, 'GW_ERR_WEBHOOK_URL_NOT_ALLOWED')
})

t.test('IPv4-compatible IPv6 receivers (::/96) are refused at creation, by REST and GraphQL', async (t) => {
  const gw = await buildGateway(t, { contract: true, config: { WEBHOOK_ALLOWED_CIDRS: '' } })
  const acme = await gw.tenant('acme')
  for (const url of ['http://[::127.0.0.1]/', 'http://[::7f00:1]/', 'http://[0:0:0:0:0:0:127.0.0.1]/', 'http://[::10.0.0.1]:8080/x', 'http://[::8.8.8.8]/x']) {
    const res = await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url } })
    t.equal(res.statusCode, 422, url)
    t.equal(res.json().code, 'GW_ERR_WEBHOOK_URL_NOT_ALLOWED', url)
    t.match(res.json().detail, /IPv4-compatible IPv6/, url)
    const gql = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: `mutation { createWebhookEndpoint(url: "${url}") { secret } }` } })
    t.equal(gql.json().errors[0].extensions.code, 'GW_ERR_WEBHOOK_URL_NOT_ALLOWED', `GraphQL ${url}`)
  }
  t.equal(await gw.app.prisma.webhookEndpoint.count(), 0, 'none was stored')
})

t.test('a receiver that resolves to a refused address at delivery time is not called (DNS rebinding)', async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t, { endpoint: false, config: { WEBHOOK_ALLOWED_CIDRS: '' } })
  // endpoints written as if their host had resolved to a public address when they were added
  const port = new URL(receiver.url).port
  const secrets = [{ secret: encrypt(gw.app.encryptionKey, 'whsec_' + Buffer.alloc(32, 1).toString('base64')), createdAt: new Date().toISOString(), expiresAt: null }]
  for (const url of [`http://localhost:${port}/hooks`, `http://127.0.0.1:${port}/hooks`]) {
    await gw.app.prisma.webhookEndpoint.create({ data: { tenantId: acme.id, url, secrets } })
  }
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const messages = await waitFor(async () => await gw.app.prisma.webhookAttempt.findMany(), (a) => a.length >= 2)
  t.ok(messages.every(a => a.statusCode === null && /refused/.test(a.error ?? '')), 'both attempts were refused before connecting')
  t.equal(receiver.deliveries.length, 0, 'the receiver was never called')
})

t.test('a receiver that is down then up gets the message, same webhook-id, every attempt logged', async (t) => {
  const { acme, session, receiver, endpoint } = await exportSetup(t)
  let calls = 0
  receiver.respond(() => ++calls <= 2 ? 503 : 200)
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const deliveries = await receiver.waitFor(3)
  t.equal(new Set(deliveries.map(d => d.headers['webhook-id'])).size, 1, 'webhook-id is stable across retries')
  t.ok(deliveries.every(d => d.verifiedWith !== null), 'every attempt is signed')
  t.equal(deliveries[2]!.json.data.exportId, started.id)
  const messages = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages` })).json().items
  const message = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/messages/${messages[0].id}` })).json(), (m: any) => m.status === 'delivered')
  t.same(message.attemptLog.map((a: any) => a.statusCode), [503, 503, 200])
  // the receiver is on loopback, let in by WEBHOOK_ALLOWED_CIDRS: its answer's bytes are not a
  // read channel into internal services, only its length is logged (a public one's first KiB is)
  t.equal(message.attemptLog[0].responseBody, '[6 bytes, not kept: the receiver is on an internal network]')
  t.ok(message.attemptLog[0].nextAttemptAt, 'a failed attempt says when the next one is')
  t.equal(message.attempts, 3)

  const replay = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/messages/${message.id}/replay` })
  t.equal(replay.statusCode, 200)
  t.match(replay.json(), { trigger: 'replay', statusCode: 200 })
  t.equal(receiver.deliveries.at(-1)!.headers['webhook-id'], deliveries[0]!.headers['webhook-id'], 'a replay keeps the webhook-id')
})

t.test('410 Gone disables the endpoint; 429 Retry-After is honoured', async (t) => {
  const { acme, session, receiver, endpoint } = await exportSetup(t)
  // the schedule says 100 ms; the receiver asks for 2 s
  receiver.respond(429, { 'retry-after': '2' })
  await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  await receiver.waitFor(1)
  receiver.respond(410)
  await receiver.waitFor(2, 5000)
  const [message] = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages` })).json().items
  // the receiver answers before the gateway records the attempt
  const log = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/messages/${message.id}` })).json().attemptLog, (l: any[]) => l.length >= 2)
  const wait = Date.parse(log[0].nextAttemptAt) - Date.parse(log[0].createdAt)
  t.ok(wait >= 1900, `the retry waited for Retry-After (${wait} ms)`)
  t.ok(Date.parse(log[1].createdAt) >= Date.parse(log[0].nextAttemptAt), 'and was not made before')
  const ep = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}` })).json(), (e: any) => !e.enabled)
  t.equal(ep.disabledReason, 'The receiver answered 410 Gone')
  const failed = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages?status=failed` })).json().items
  t.equal(failed.length, 1)
  // a disabled endpoint gets nothing new
  await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  await new Promise(resolve => setTimeout(resolve, 1500))
  t.equal(receiver.deliveries.length, 2)
})

t.test('retries run out, the message fails; recover-since sends it again once the receiver is back', async (t) => {
  const { acme, session, receiver, endpoint } = await exportSetup(t)
  receiver.respond(500)
  const since = new Date(Date.now() - 1000).toISOString()
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  await receiver.waitFor(4, 10_000) // the first try and the three of the schedule
  const failed = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages?status=failed` })).json().items, (i: any[]) => i.length === 1)
  t.equal(failed[0].attempts, 4)
  receiver.respond(204)
  const recovered = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id}/recover`, payload: { since } })
  t.equal(recovered.statusCode, 202)
  t.equal(recovered.json().recovered, 1)
  await receiver.waitFor(5)
  const delivered = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/messages/${failed[0].id}` })).json(), (m: any) => m.status === 'delivered')
  t.ok(delivered.deliveredAt)
})

t.test('recover: a date out of range or a window the wrong way round is a 400 problem, never a 500', async (t) => {
  const gw = await buildGateway(t, { contract: true, config: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' } })
  const acme = await gw.tenant('acme')
  const created = (await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: 'http://127.0.0.1:9/hook' } })).json()
  gw.secret(created.secret)
  const recover = async (payload: Record<string, unknown>) => await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${created.id}/recover`, payload })
  const cases: Array<[string, Record<string, unknown>]> = [
    ['since in year 0', { since: '0000-01-01T00:00:00Z' }],
    ['until in year 0', { since: '2026-01-01T00:00:00Z', until: '0000-12-31T23:59:59Z' }],
    ['February 30th', { since: '2026-02-30T00:00:00Z' }],
    ['not a date', { since: 'yesterday' }],
    ['until before since', { since: '2026-06-01T00:00:00Z', until: '2026-05-01T00:00:00Z' }],
    ['since in the future, no until', { since: '9999-01-01T00:00:00Z' }]
  ]
  for (const [what, payload] of cases) {
    const res = await recover(payload)
    t.equal(res.statusCode, 400, `${what}: ${res.body}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, what)
    t.equal(res.json().code, 'GW_ERR_VALIDATION', what)
  }
  t.match((await recover({ since: '2026-06-01T00:00:00Z', until: '2026-05-01T00:00:00Z' })).json().detail, /until .*before since/)
  const fine = await recover({ since: '0001-01-01T00:00:00Z', until: '9999-12-31T23:59:59Z' })
  t.equal(fine.statusCode, 202, fine.body)
  t.same(fine.json(), { recovered: 0 })
})

t.test('an endpoint failing for longer than WEBHOOK_DISABLE_AFTER_MS is disabled, and says why', async (t) => {
  const { acme, session, receiver, endpoint } = await exportSetup(t, { config: { WEBHOOK_DISABLE_AFTER_MS: 1000, WEBHOOK_RETRY_SCHEDULE: '300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms' } })
  receiver.respond(503)
  await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  const ep = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}` })).json(), (e: any) => !e.enabled, 15_000)
  t.match(ep.disabledReason, /^Every delivery failed for \d+ s$/, 'in units a person reads, not "0 h"')
  t.ok(ep.failingSince)
  const message = (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages` })).json().items[0]
  const replay = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/messages/${message.id}/replay` })
  t.equal(replay.statusCode, 409, 'a disabled endpoint is not replayed to')
  t.match(replay.json().detail, /disabled.*enable it, then replay/)
  const enabled = (await acme.as('alice', { method: 'PATCH', url: `/v1/webhooks/endpoints/${endpoint.id}`, payload: { enabled: true } })).json()
  t.match(enabled, { enabled: true, disabledReason: null, failingSince: null })
})

t.test('secret rotation: during the overlap both signatures are sent, each verifies', async (t) => {
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t)
  const rotated = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, payload: { overlapSeconds: 3600 } })
  t.equal(rotated.statusCode, 200)
  const { secret } = rotated.json()
  gw.secret(secret)
  t.not(secret, endpoint.secret)
  await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  const [d] = await receiver.waitFor(1)
  const signatures = String(d!.headers['webhook-signature']).split(' ')
  t.equal(signatures.length, 2, 'two signatures')
  const headers = d!.headers as Record<string, string>
  t.doesNotThrow(() => new Webhook(secret).verify(d!.body, headers), 'the new secret verifies')
  t.doesNotThrow(() => new Webhook(endpoint.secret).verify(d!.body, headers), 'the old secret verifies')
  // an overlap of 0 retires the old secret at once
  await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, payload: { overlapSeconds: 0 } })
  await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })
  const [, d2] = await receiver.waitFor(2)
  t.equal(String(d2!.headers['webhook-signature']).split(' ').length, 1)
  t.throws(() => new Webhook(secret).verify(d2!.body, d2!.headers as Record<string, string>), 'the retired secret no longer verifies')
})

t.test('an endpoint gets only the events it asked for', async (t) => {
  const { acme, session, receiver } = await exportSetup(t, { endpoint: false, sim: { renderFailureRate: 1 } })
  const ep = (await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url, events: ['export.completed'] } })).json()
  const failedOnly = (await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url + '?failed', events: ['export.failed'] } })).json()
  receiver.secrets.push(ep.secret, failedOnly.secret)
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  const [d] = await receiver.waitFor(1)
  await new Promise(resolve => setTimeout(resolve, 300))
  t.equal(receiver.deliveries.length, 1)
  t.equal(d!.json.type, 'export.failed')
  t.equal(d!.verifiedWith, failedOnly.secret)
  t.match(d!.json.data.error, { reason: 'render_failed', retryable: true })
})

t.test('a replay of a pending message that fails keeps it on its schedule; recover afterwards delivers it', async (t) => {
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t, { config: { WEBHOOK_RETRY_SCHEDULE: '1h' } })
  receiver.respond(500)
  const since = new Date(Date.now() - 1000).toISOString()
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  await settled(acme, 'alice', started.id)
  await receiver.waitFor(1)
  const [pending] = await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/endpoints/${endpoint.id}/messages?status=pending` })).json().items, (i: any[]) => i.length === 1 && i[0].attempts === 1)
  const replay = await acme.as('alice', { method: 'POST', url: `/v1/webhooks/messages/${pending.id}/replay` })
  t.match(replay.json(), { trigger: 'replay', statusCode: 500 })
  const row = await gw.app.prisma.webhookMessage.findUniqueOrThrow({ where: { id: pending.id } })
  t.equal(row.status, 'pending')
  t.ok(row.nextAttemptAt, 'still has its next attempt: not stranded')
  // the receiver is back: recover sends it now instead of in an hour
  receiver.respond(204)
  const recovered = (await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id}/recover`, payload: { since } })).json()
  t.equal(recovered.recovered, 0, 'nothing is failed or stranded: a pending message waits for its schedule')
  await gw.app.prisma.webhookMessage.update({ where: { id: pending.id }, data: { nextAttemptAt: null } }) // a message stranded by an older gateway
  const stranded = (await acme.as('alice', { method: 'POST', url: `/v1/webhooks/endpoints/${endpoint.id}/recover`, payload: { since } })).json()
  t.equal(stranded.recovered, 1, 'recover finds a stranded pending message')
  await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/webhooks/messages/${pending.id}` })).json(), (m: any) => m.status === 'delivered')
})

t.test('an endpoint row changes only when its health does: deliveries leave updatedAt alone', async (t) => {
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t)
  const before = (await gw.app.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).updatedAt
  for (let i = 0; i < 3; i++) {
    const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
    await settled(acme, 'alice', started.id)
  }
  await receiver.waitFor(3)
  await new Promise(resolve => setTimeout(resolve, 300))
  const after = (await gw.app.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).updatedAt
  t.equal(after.getTime(), before.getTime(), 'three deliveries, updatedAt unchanged')
})
