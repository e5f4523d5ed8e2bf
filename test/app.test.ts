import t from 'tap'
import { buildGateway } from './helpers/app.ts'

t.test('the gateway answers health checks and speaks problem+json', async (t) => {
  const gw = await buildGateway(t)

  const live = await gw.app.inject({ method: 'GET', url: '/health/live' })
  t.equal(live.statusCode, 200)
  t.same(live.json(), { status: 'ok' })

  const ready = await gw.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200)
  t.same(ready.json().checks, { database: 'ok', upstream: 'ok' })

  const missing = await gw.app.inject({ method: 'GET', url: '/nowhere?x=1', headers: { 'x-request-id': 'req-123' } })
  t.equal(missing.statusCode, 404)
  t.match(missing.headers['content-type'], /^application\/problem\+json/)
  t.same(missing.json(), {
    type: '/problems/GW_ERR_ROUTE_NOT_FOUND',
    title: 'No such route',
    status: 404,
    detail: 'No route GET /nowhere',
    code: 'GW_ERR_ROUTE_NOT_FOUND',
    instance: 'req-123'
  })

  const doc = await gw.app.inject({ method: 'GET', url: '/problems/GW_ERR_ROUTE_NOT_FOUND' })
  t.equal(doc.statusCode, 200)
  t.equal(doc.json().status, 404)
})

t.test('client mistakes are 4xx problems, never 500, never a stack trace', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')

  const cases = [
    { name: 'no auth', res: await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { 'x-user-id': 'u1' } }), status: 401 },
    { name: 'garbled auth', res: await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: 'Basic Zm9vOmJhcg==', 'x-user-id': 'u1' } }), status: 401 },
    { name: 'wrong key', res: await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: 'Bearer ngw_aaaaaaaaaaaaaaaa_' + 'x'.repeat(43), 'x-user-id': 'u1' } }), status: 401 },
    { name: 'no user id', res: await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${acme.key}` } }), status: 400 },
    { name: 'user id too long', res: await acme.as('u'.repeat(129), { method: 'GET', url: '/v1/sessions' }), status: 400 },
    { name: 'user id bad chars', res: await acme.as('alice smith', { method: 'GET', url: '/v1/sessions' }), status: 400 },
    { name: 'bad session id', res: await acme.as('u1', { method: 'GET', url: '/v1/sessions/not-a-uuid' }), status: 400 },
    { name: 'wrong body type', res: await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: { language: 42 } }), status: 400 },
    { name: 'unknown body field', res: await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: { colour: 'red' } }), status: 400 },
    { name: 'broken json', res: await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: '{"language":', headers: { 'content-type': 'application/json' } }), status: 400 },
    { name: 'bad page size', res: await acme.as('u1', { method: 'GET', url: '/v1/sessions?limit=100000' }), status: 400 },
    { name: 'bad cursor', res: await acme.as('u1', { method: 'GET', url: '/v1/sessions?cursor=zzzz' }), status: 400 },
    { name: 'unsupported type', res: await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: 'hello', headers: { 'content-type': 'text/csv' } }), status: 415 }
  ]
  for (const c of cases) {
    t.equal(c.res.statusCode, c.status, `${c.name}: ${c.status}`)
    t.match(c.res.headers['content-type'], /^application\/problem\+json/, `${c.name}: problem+json`)
    const body = c.res.json()
    t.match(body.code, /^GW_ERR_/, `${c.name}: has a code`)
    t.notMatch(c.res.body, /\s+at .+\(.+:\d+:\d+\)/, `${c.name}: no stack trace`)
  }
})

t.test('an unreachable upstream: the first call that needs it names NEMO_BASE_URL and the simulator; readiness reports it apart', async (t) => {
  const gw = await buildGateway(t, { config: { NEMO_BASE_URL: 'http://127.0.0.1:9' } })
  const acme = await gw.tenant('acme')
  const res = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 502)
  t.match(res.headers['content-type'], /^application\/problem\+json/)
  t.match(res.json(), { code: 'GW_ERR_UPSTREAM_UNAVAILABLE', detail: /http:\/\/127\.0\.0\.1:9 cannot be reached \(ECONNREFUSED\)\. Check NEMO_BASE_URL.*npm run simulator/ })

  const ready = await gw.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200, 'still ready: reads and event logs need no upstream')
  t.same(ready.json().checks, { database: 'ok', upstream: 'unreachable' })
  const sessions = await acme.as('alice', { method: 'GET', url: '/v1/sessions' })
  t.equal(sessions.statusCode, 200, 'a route that needs no upstream serves')
})

t.test('one log line per request at info, at its end, naming the request, its status and its time', async (t) => {
  const gw = await buildGateway(t, { config: { LOG_LEVEL: 'info' } })
  const before = gw.logs.length
  const res = await gw.app.inject({ method: 'GET', url: '/nowhere?x=1', headers: { 'x-request-id': 'req-log-1' } })
  t.equal(res.statusCode, 404)
  const lines = gw.logs.slice(before).map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.reqId === 'req-log-1')
  t.equal(lines.length, 1, 'one line, not an "incoming request" and a "request completed"')
  t.match(lines[0], { msg: 'request completed', req: { method: 'GET', url: '/nowhere?x=1' }, res: { statusCode: 404 }, responseTime: Number })
})
