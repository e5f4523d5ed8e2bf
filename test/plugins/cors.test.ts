// Browsers: a preflight is answered for an origin some tenant allows; the real answer is
// readable only by an origin the caller's own tenant allows; a WebSocket from a page of an
// origin the tenant did not allow is refused; an event stream takes a client token as
// ?access_token= (never an API key), and that token reaches no log line.
import t from 'tap'
import WebSocket from 'ws'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'
import { readSse } from '../helpers/sse.ts'

const APP_A = 'https://app.a.example'
const APP_B = 'https://app.b.example'

async function mint (gw: TestGateway, tenant: TestTenant, userId: string): Promise<string> {
  const token = (await tenant.as(userId, { method: 'POST', url: '/v1/client-tokens', payload: {} })).json().token as string
  gw.secret(token)
  return token
}

t.test('CORS follows each tenant\'s allowed origins', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const b = await gw.tenant('tenant-b')
  t.equal((await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${a.id}`, payload: { allowedOrigins: [APP_A] } })).json().allowedOrigins[0], APP_A)
  t.equal((await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${b.id}`, payload: { allowedOrigins: ['https://App.B.example/path'] } })).statusCode, 400, 'an origin has no path')
  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${b.id}`, payload: { allowedOrigins: [APP_B] } })
  const token = await mint(gw, a, 'alice')

  const preflight = async (origin: string) => await gw.app.inject({
    method: 'OPTIONS', url: '/v1/credits', headers: { origin, 'access-control-request-method': 'GET', 'access-control-request-headers': 'authorization' }
  })
  const ok = await preflight(APP_A)
  t.equal(ok.statusCode, 204)
  t.equal(ok.headers['access-control-allow-origin'], APP_A)
  t.match(String(ok.headers['access-control-allow-headers']), /authorization/)
  t.equal((await preflight(APP_B)).headers['access-control-allow-origin'], APP_B, 'a preflight carries no credentials: any tenant\'s origin')
  const evil = await preflight('https://evil.example')
  t.not(evil.statusCode, 204)
  t.notOk(evil.headers['access-control-allow-origin'])

  const get = async (origin: string) => await gw.app.inject({ method: 'GET', url: '/v1/credits', headers: { origin, authorization: `Bearer ${token}` } })
  const own = await get(APP_A)
  t.equal(own.statusCode, 200)
  t.equal(own.headers['access-control-allow-origin'], APP_A)
  t.match(String(own.headers.vary), /Origin/)
  const foreign = await get(APP_B)
  t.notOk(foreign.headers['access-control-allow-origin'], 'tenant B\'s origin cannot read tenant A\'s answers')
  // errors are readable by the tenant's page too (a 403 for a missing scope, a 401 to refresh)
  const denied = await gw.app.inject({ method: 'POST', url: '/v1/sessions', headers: { origin: APP_A, authorization: `Bearer ${token}` }, payload: {} })
  t.equal(denied.statusCode, 403)
  t.equal(denied.headers['access-control-allow-origin'], APP_A)
  const expired = await gw.app.inject({ method: 'GET', url: '/v1/credits', headers: { origin: APP_A, authorization: 'Bearer a.b.c' } })
  t.equal(expired.statusCode, 401)
  t.equal(expired.headers['access-control-allow-origin'], APP_A)

  // the WebSocket: a page's origin must be its tenant's
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const wsUrl = address.replace(/^http/, 'ws') + '/graphql'
  const connect = async (origin: string | undefined) => await new Promise<{ code?: number, status?: number, acked?: boolean }>((resolve) => {
    const ws = new WebSocket(wsUrl, 'graphql-transport-ws', origin === undefined ? {} : { origin })
    ws.on('unexpected-response', (_req, res) => resolve({ status: res.statusCode }))
    ws.on('open', () => ws.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${token}` } })))
    ws.on('message', (data) => { if (JSON.parse(String(data)).type === 'connection_ack') { ws.close(); resolve({ acked: true }) } })
    ws.on('close', (code) => resolve({ code }))
    ws.on('error', () => {})
  })
  t.same(await connect(APP_A), { acked: true })
  t.same(await connect(undefined), { acked: true }, 'a client that is not a browser sends no Origin')
  t.equal((await connect(APP_B)).code, 4403, 'another tenant\'s origin: refused at connection_init')
  t.equal((await connect('https://evil.example')).status, 403, 'an origin no tenant allows: refused at the upgrade')
})

t.test('an event stream takes a client token as ?access_token=, never an API key, and never logs it', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const token = await mint(gw, a, 'alice')
  const base = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const url = `${base}/v1/sessions/${session.id}/events?after=0&access_token=${encodeURIComponent(token)}`
  const started = await a.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:text] hi' } })
  t.equal(started.statusCode, 202)
  const stream = await readSse(url, { until: (f) => f.event === 'turn.completed' || f.event === 'turn.failed' })
  t.equal(stream.status, 200)
  t.ok(stream.frames.some(f => f.event === 'turn.completed'), 'the turn\'s events arrive')

  const withKey = await readSse(`${base}/v1/sessions/${session.id}/events?access_token=${encodeURIComponent(a.key)}`, { headers: { 'x-user-id': 'alice' } })
  t.equal(withKey.status, 401, 'an API key is never taken from a URL')
  const notStream = await gw.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}/events?access_token=${token}` })
  t.equal(notStream.statusCode, 400, 'only event streams take a token in the URL')

  const logs = gw.logs.join('')
  t.notOk(logs.includes(token), 'the token is in no log line')
  t.match(logs, new RegExp(`/v1/sessions/${session.id}/events\\?after=0"`), 'the URL is logged without it')
})
