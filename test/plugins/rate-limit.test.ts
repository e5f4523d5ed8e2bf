import t from 'tap'
import { buildGateway } from '../helpers/app.ts'
import { NO_REDIS, REDIS_URL, redisAvailable, refusingRedisUrl } from '../helpers/redis.ts'
import { waitFor } from '../helpers/sse.ts'
import { cuttingProxy } from '../helpers/tcp-proxy.ts'

const available = await redisAvailable()

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

t.test('Redis unreachable, REDIS_DOWN_POLICY=local (the default): each instance counts on its own', async (t) => {
  const gw = await buildGateway(t, { config: { REDIS_URL: await refusingRedisUrl(), RATE_LIMIT_MAX: 2, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const a = await gw.tenant('a')
  const statuses: number[] = []
  let last
  for (let i = 0; i < 3; i++) {
    last = await a.as('u', { method: 'GET', url: '/v1/sessions' })
    statuses.push(last.statusCode)
  }
  t.same(statuses, [200, 200, 429], 'the limit still holds on this instance')
  t.equal(last!.json().code, 'GW_ERR_RATE_LIMITED')
  t.ok(Number(last!.headers['retry-after']) > 0)
})

t.test('Redis unreachable, REDIS_DOWN_POLICY=refuse: counted requests answer 503 with Retry-After; health is not counted', async (t) => {
  const gw = await buildGateway(t, { config: { REDIS_URL: await refusingRedisUrl(), REDIS_DOWN_POLICY: 'refuse', RATE_LIMIT_MAX: 2 } })
  const a = await gw.tenant('a')
  const res = await a.as('u', { method: 'GET', url: '/v1/sessions' })
  t.equal(res.statusCode, 503)
  t.match(res.headers['content-type'], /problem\+json/)
  t.equal(res.json().code, 'GW_ERR_UNAVAILABLE')
  t.match(res.json().detail, /Redis is unreachable \(REDIS_DOWN_POLICY=refuse\)/)
  t.ok(Number(res.headers['retry-after']) > 0)
  t.equal((await gw.app.inject({ method: 'GET', url: '/health/ready' })).statusCode, 200, 'readiness is not counted, and stays ready')
})

t.test('a Redis cut mid-window: counting moves to the instance, and back to Redis when it returns', { skip: available ? false : NO_REDIS }, async (t) => {
  const proxy = await cuttingProxy(t, REDIS_URL)
  const gw = await buildGateway(t, { config: { REDIS_URL: proxy.url, RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const a = await gw.tenant('a')
  const get = async () => (await a.as('u', { method: 'GET', url: '/v1/sessions' })).statusCode
  const ready = async (state: string) => await waitFor(async () => (await gw.app.inject({ method: 'GET', url: '/health/ready' })).json().checks.redis, (s) => s === state)
  await ready('ok')
  t.same([await get(), await get()], [200, 200], 'two counted in Redis')
  await proxy.cut()
  await ready('unreachable')
  t.same([await get(), await get(), await get(), await get()], [200, 200, 200, 429], 'counted afresh on this instance while Redis is away')
  await proxy.restore()
  await ready('ok')
  t.same([await get(), await get()], [200, 429], 'back in Redis, where two were already counted')
})
