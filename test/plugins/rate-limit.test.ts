import t from 'tap'
import { buildGateway } from '../helpers/app.ts'

t.test('rate limits per API key, with draft headers and a problem on 429', async (t) => {
  const gw = await buildGateway(t, { config: { RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const a = await gw.tenant('a')
  const b = await gw.tenant('b')
  const statuses: number[] = []
  let last
  for (let i = 0; i < 4; i++) {
    last = await a.as('u', { method: 'GET', url: '/v1/sessions' })
    statuses.push(last.statusCode)
  }
  t.same(statuses, [200, 200, 200, 429])
  t.equal(last!.headers['ratelimit-limit'], '3')
  t.equal(last!.headers['ratelimit-remaining'], '0')
  t.ok(Number(last!.headers['retry-after']) > 0)
  t.match(last!.headers['content-type'], /problem\+json/)
  t.equal(last!.json().code, 'GW_ERR_RATE_LIMITED')
  t.match(last!.json().detail, /^Rate limit of 3 requests per 60 seconds exceeded for this API key; retry in \d+ s$/, 'the window as configured, not the time left')
  t.equal((await b.as('u', { method: 'GET', url: '/v1/sessions' })).statusCode, 200, 'another key has its own budget')
  t.equal((await gw.app.inject({ method: 'GET', url: '/health/live' })).statusCode, 200, 'health is never limited')
})

t.test('percent-encoding the path does not escape the limit (it follows the matched route)', async (t) => {
  const gw = await buildGateway(t, { config: { RATE_LIMIT_MAX: 2, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const a = await gw.tenant('a')
  for (let i = 0; i < 2; i++) t.equal((await a.as('u', { method: 'GET', url: '/v1/sessions' })).statusCode, 200)
  for (const url of ['/%761/credits', '/v%31/credits', '/%76%31/sessions', '/v1/%73essions']) {
    const res = await a.as('u', { method: 'GET', url })
    t.equal(res.statusCode, 429, `${url} is limited`)
    t.equal(res.headers['ratelimit-limit'], '2', `${url} carries the RateLimit headers`)
  }
  const created = await a.as('u', { method: 'POST', url: '/%761/sessions', payload: {} })
  t.equal(created.statusCode, 429, 'POST /%761/sessions is limited')
  const gql = await a.as('u', { method: 'POST', url: '/%67raphql', payload: { query: '{ __typename }' } })
  t.equal(gql.statusCode, 429, '/%67raphql is limited')
})
