// A database that stops answering (SIGSTOP, a dead network path) must not hang requests:
// queries and pool waits are bounded, and the caller gets 503 GW_ERR_UNAVAILABLE with
// Retry-After. When the database answers again, so does the gateway.
import t from 'tap'
import { buildGateway } from '../helpers/app.ts'
import { testDatabase } from '../helpers/database.ts'
import { stallingProxy } from '../helpers/tcp-proxy.ts'

t.test('a stalled database answers 503 GW_ERR_UNAVAILABLE with Retry-After within the timeouts, then recovers', { timeout: 90_000 }, async (t) => {
  const proxy = await stallingProxy(t, await testDatabase(t))
  const gw = await buildGateway(t, { databaseUrl: proxy.url, config: { DB_QUERY_TIMEOUT_MS: 1000, DB_POOL_TIMEOUT_MS: 1000, AUTH_CACHE_TTL_MS: 60_000 } })
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/sessions' })).statusCode, 200)

  proxy.stall()
  const began = Date.now()
  // more requests at once than the pool has connections: some wait for one
  const answers = await Promise.all(Array.from({ length: 30 }, async (_, i) => await acme.as('alice', {
    method: i % 3 === 2 ? 'POST' : 'GET',
    url: i % 3 === 0 ? '/v1/sessions' : i % 3 === 1 ? `/v1/sessions/${session.id}/turns` : '/v1/sessions',
    ...(i % 3 === 2 ? { payload: {} } : {})
  })))
  const seconds = (Date.now() - began) / 1000
  t.comment(`30 requests answered ${seconds.toFixed(1)} s into the stall`)
  t.ok(seconds < 8, `no request hung (${seconds.toFixed(1)} s)`)
  t.same([...new Set(answers.map(a => a.statusCode))], [503], 'every request: 503')
  for (const a of answers) {
    t.match(a.headers['content-type'], /problem\+json/)
    t.equal(a.json().code, 'GW_ERR_UNAVAILABLE')
    t.ok(Number(a.headers['retry-after']) >= 1, 'with Retry-After')
  }

  const graphql = await acme.as('alice', { method: 'POST', url: '/graphql', payload: { query: '{ viewer { sessions { items { id } } } }' } })
  t.equal(graphql.json().errors?.[0]?.extensions.code, 'GW_ERR_UNAVAILABLE', 'GraphQL says the same')

  proxy.resume()
  const after = Date.now()
  let status = 0
  while (Date.now() - after < 15_000) {
    status = (await acme.as('alice', { method: 'GET', url: '/v1/sessions' })).statusCode
    if (status === 200) break
    await new Promise(resolve => setTimeout(resolve, 100))
  }
  t.equal(status, 200, 'the gateway answers again once the database does')

  // a connection already open and idle in the pool: the query itself times out
  proxy.stall()
  const one = await acme.as('alice', { method: 'GET', url: '/v1/sessions' })
  t.equal(one.statusCode, 503)
  t.ok(gw.logs.some((l) => l.includes('Query read timeout')), 'a query on an open connection was cut by the query timeout')
  proxy.resume()
})
