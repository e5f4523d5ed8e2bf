// Failed authentications are throttled per client address, on every surface that takes
// credentials (REST, GraphQL over HTTP, the WebSocket's connection_init, the admin API),
// while good credentials from the same address (a shared NAT) keep working.
import t from 'tap'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { ADMIN_TOKEN, buildGateway } from '../helpers/app.ts'
import { refusingRedisUrl } from '../helpers/redis.ts'

const LIMITS = { AUTH_FAILURES_MAX: 5, AUTH_FAILURES_WINDOW_MS: 60_000 }

t.test('bad API keys from one address: 401 up to the limit, then 429; good keys behind the same address still work', async (t) => {
  const gw = await buildGateway(t, { config: LIMITS })
  const acme = await gw.tenant('acme')
  const bad = { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' }
  const statuses: number[] = []
  for (let i = 0; i < 5; i++) statuses.push((await gw.app.inject({ method: 'GET', url: '/v1/credits', headers: bad })).statusCode)
  t.same(statuses, [401, 401, 401, 401, 401])
  const limited = await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: bad })
  t.equal(limited.statusCode, 429)
  t.match(limited.headers['content-type'], /problem\+json/)
  t.equal(limited.json().code, 'GW_ERR_RATE_LIMITED')
  t.ok(Number(limited.headers['retry-after']) > 0 && Number(limited.headers['retry-after']) <= 60)
  const missing = await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { 'x-user-id': 'alice' } })
  t.equal(missing.statusCode, 429, 'no key at all is a failed authentication too')

  const graphql = await gw.app.inject({ method: 'POST', url: '/graphql', headers: bad, payload: { query: '{ viewer { id } }' } })
  t.equal(graphql.statusCode, 429, 'GraphQL over HTTP shares the limit')
  t.equal(graphql.json().errors?.[0]?.extensions.code, 'GW_ERR_RATE_LIMITED')

  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/sessions' })).statusCode, 200, 'a good key from the same address is served')
  const gqlGood = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: '{ viewer { id } }' } })
  t.equal(gqlGood.statusCode, 200)

  const other = await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: bad, remoteAddress: '10.1.2.3' })
  t.equal(other.statusCode, 401, 'another address has its own budget')
})

t.test('bad admin tokens are throttled the same way; the right token still works', async (t) => {
  const gw = await buildGateway(t, { config: LIMITS })
  const statuses: number[] = []
  for (let i = 0; i < 6; i++) {
    statuses.push((await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: 'Bearer wrong-admin-token' } })).statusCode)
  }
  t.same(statuses, [403, 403, 403, 403, 403, 429])
  const good = await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(good.statusCode, 200)
})

t.test('failed WebSocket connection_init counts, and a limited address is closed with 4429', async (t) => {
  const gw = await buildGateway(t, { config: LIMITS })
  const acme = await gw.tenant('acme')
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const url = address.replace(/^http/, 'ws') + '/graphql'
  const connect = async (params: Record<string, unknown>) => await new Promise<{ code: number, reason: string }>((resolve) => {
    const c = createClient({ url, webSocketImpl: WebSocket, connectionParams: params, retryAttempts: 0, lazy: true, on: { closed: (e: any) => resolve(e), connected: () => resolve({ code: 0, reason: 'connected' }) } })
    t.teardown(async () => { await c.dispose() })
    c.subscribe({ query: '{ __typename }' }, { next: () => {}, error: () => {}, complete: () => {} })
  })
  const codes: number[] = []
  for (let i = 0; i < 6; i++) codes.push((await connect({ authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' })).code)
  t.same(codes, [4403, 4403, 4403, 4403, 4403, 4429])
  const rest = await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' } })
  t.equal(rest.statusCode, 429, 'the WebSocket failures count for REST too')
  const good = await connect({ authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' })
  t.equal(good.reason, 'connected', 'good credentials from the same address connect')
})

t.test('Redis unreachable: failures are counted per instance (local), or answered 503 (refuse)', async (t) => {
  const local = await buildGateway(t, { config: { ...LIMITS, AUTH_FAILURES_MAX: 2, REDIS_URL: await refusingRedisUrl() } })
  const bad = { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' }
  const statuses: number[] = []
  for (let i = 0; i < 3; i++) statuses.push((await local.app.inject({ method: 'GET', url: '/v1/sessions', headers: bad })).statusCode)
  t.same(statuses, [401, 401, 429], 'local: the limit still holds on this instance')

  const refuse = await buildGateway(t, { config: { ...LIMITS, REDIS_URL: await refusingRedisUrl(), REDIS_DOWN_POLICY: 'refuse' } })
  const res = await refuse.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: 'Bearer not-the-admin-token' } })
  t.equal(res.statusCode, 503, 'refuse: a failure that cannot be counted is answered 503')
  t.equal(res.json().code, 'GW_ERR_UNAVAILABLE')
  t.ok(Number(res.headers['retry-after']) > 0)
  const good = await refuse.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(good.statusCode, 200, 'good credentials are not counted, so they still work')

  // the WebSocket's upgrade is a counted request too: refused before any credentials are read
  const address = await refuse.app.listen({ port: 0, host: '127.0.0.1' })
  const upgrade = await new Promise<number>((resolve) => {
    const ws = new WebSocket(address.replace(/^http/, 'ws') + '/graphql', 'graphql-transport-ws')
    ws.on('unexpected-response', (_req, res) => { resolve(res.statusCode ?? 0); ws.terminate() })
    ws.on('open', () => { resolve(101); ws.close() })
    ws.on('error', () => {})
  })
  t.equal(upgrade, 503, 'a GraphQL WebSocket is refused at its upgrade with 503')
})
