// Two gateway instances on one Postgres and one Redis: rate-limit counters are shared, and a
// client following a session on one instance sees the events of a turn run by the other.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildGateway } from './helpers/app.ts'
import { testDatabase } from './helpers/database.ts'
import { NO_REDIS, REDIS_URL, redisAvailable } from './helpers/redis.ts'
import { readSse } from './helpers/sse.ts'

const available = await redisAvailable()
// instances that share a database share the key its secrets are encrypted with
const ENCRYPTION_KEY = randomBytes(32).toString('hex')
const why = NO_REDIS

t.test('two instances share rate-limit counters through Redis', { skip: available ? false : why }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const config = { REDIS_URL, ENCRYPTION_KEY, RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000 }
  const a = await buildGateway(t, { databaseUrl, config })
  const b = await buildGateway(t, { databaseUrl, config })
  const acme = await a.tenant('acme')
  const onB = async () => await b.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'u' } })
  const statuses = [
    (await acme.as('u', { method: 'GET', url: '/v1/sessions' })).statusCode,
    (await onB()).statusCode,
    (await acme.as('u', { method: 'GET', url: '/v1/sessions' })).statusCode,
    (await onB()).statusCode
  ]
  t.same(statuses, [200, 200, 200, 429], 'the fourth request is refused whichever instance it reaches')
})

t.test('two instances share the failed-authentication counts of an address through Redis', { skip: available ? false : why }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const config = { REDIS_URL, ENCRYPTION_KEY, AUTH_FAILURES_MAX: 3, AUTH_FAILURES_WINDOW_MS: 60_000 }
  const a = await buildGateway(t, { databaseUrl, config })
  const b = await buildGateway(t, { databaseUrl, config })
  const acme = await a.tenant('acme')
  const bad = { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'u' }
  const statuses: number[] = []
  for (const gw of [a, b, a, b]) statuses.push((await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: bad, remoteAddress: '192.0.2.7' })).statusCode)
  t.same(statuses, [401, 401, 401, 429], 'the fourth failure is throttled whichever instance it reaches')
  const good = await b.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'u' }, remoteAddress: '192.0.2.7' })
  t.equal(good.statusCode, 200, 'a good key from that address is served')
})

t.test('a follower on instance B sees a turn run on instance A, live', { skip: available ? false : why }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const sim = { stepDelayMs: 20, generationMs: 200, heartbeatIntervalMs: 20 }
  const a = await buildGateway(t, { databaseUrl, sim, config: { REDIS_URL, ENCRYPTION_KEY } })
  const b = await buildGateway(t, { databaseUrl, sim, config: { REDIS_URL, ENCRYPTION_KEY } })
  await b.app.listen({ port: 0, host: '127.0.0.1' })
  const address = b.app.server.address()
  const urlB = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : ''
  const acme = await a.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const headers = { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
  const follow = readSse(`${urlB}/v1/sessions/${session.id}/events`, {
    headers,
    until: (f) => f.event === 'turn.completed' || f.event === 'turn.failed'
  })
  await new Promise(resolve => setTimeout(resolve, 200))
  const started = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:generation] go' } })
  t.equal(started.statusCode, 202)
  const res = await follow
  const types = res.frames.map(f => f.event)
  t.equal(types[0], 'turn.started')
  t.equal(types.at(-1), 'turn.completed')
  t.ok(types.includes('tool.started'))
})

t.test('an operator\'s change through one instance reaches the other\'s caches at once, not after their TTL', { skip: available ? false : why }, async (t) => {
  const databaseUrl = await testDatabase(t)
  // caches that would hold for a minute: only the pub/sub can make B see the change
  const config = { REDIS_URL, ENCRYPTION_KEY, AUTH_CACHE_TTL_MS: 60_000, HOT_CACHE_TTL_MS: 60_000 }
  const a = await buildGateway(t, { databaseUrl, config })
  const b = await buildGateway(t, { databaseUrl, config })
  const acme = await a.tenant('acme')
  const onB = async (url: string) => await b.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'u' } })
  const soon = async (check: () => Promise<boolean>): Promise<number> => {
    const started = Date.now()
    while (!(await check())) {
      if (Date.now() - started > 5000) return Infinity
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
    return Date.now() - started
  }

  // B has the tenant's settings and the key's verdict cached
  t.equal((await onB('/v1/credits')).json().budget.limit, null)
  t.equal((await a.admin({ method: 'PATCH', url: `/admin/v1/tenants/${acme.id}`, payload: { creditBudget: 40 } })).statusCode, 200)
  const budgetSeen = await soon(async () => (await onB('/v1/credits')).json().budget.limit === 40)
  t.ok(budgetSeen < 2000, `B reads the new budget ${budgetSeen} ms after the change on A`)

  const keys = (await a.admin({ method: 'GET', url: `/admin/v1/tenants/${acme.id}/keys` })).json() as { items: Array<{ id: string }> }
  t.equal((await a.admin({ method: 'POST', url: `/admin/v1/keys/${keys.items[0]!.id}/revoke` })).statusCode, 200)
  const revokedSeen = await soon(async () => (await onB('/v1/sessions')).statusCode === 401)
  t.ok(revokedSeen < 2000, `B refuses the revoked key ${revokedSeen} ms after the revoke on A`)
})
