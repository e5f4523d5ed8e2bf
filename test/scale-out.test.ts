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
