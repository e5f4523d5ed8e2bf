// The session read (GET /v1/sessions/:id, GraphQL `session`) is cached on every instance. Two
// instances on one database and one Redis, with caches that would hold for a minute: whatever
// changes a session through either instance (a reset that opens a new upstream session, a turn
// that saves its state, the user's deletion) is what both then answer, never the cached view.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildGateway } from '../../helpers/app.ts'
import { testDatabase } from '../../helpers/database.ts'
import { NO_REDIS, REDIS_URL, redisAvailable } from '../../helpers/redis.ts'

const available = await redisAvailable()
const ENCRYPTION_KEY = randomBytes(32).toString('hex')
const config = { REDIS_URL, ENCRYPTION_KEY, HOT_CACHE_TTL_MS: 60_000, AUTH_CACHE_TTL_MS: 60_000 }

/** Polls until `check` holds (a change crosses to the other instance through Redis); ms taken, or Infinity. */
async function soon (check: () => Promise<boolean>): Promise<number> {
  const started = Date.now()
  while (!(await check())) {
    if (Date.now() - started > 5000) return Infinity
    await new Promise((resolve) => setTimeout(resolve, 20))
  }
  return Date.now() - started
}

t.test('a session changed through either of two instances is read as it is on both', { skip: available ? false : NO_REDIS }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const a = await buildGateway(t, { databaseUrl, config })
  // one upstream behind both, as in production
  const b = await buildGateway(t, { databaseUrl, config: { ...config, NEMO_BASE_URL: a.sim.url } })
  const acme = await a.tenant('acme')
  const globex = await a.tenant('globex')
  const headers = { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
  const created = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'Trip' } })).json()
  const url = `/v1/sessions/${created.id}`
  const read = async (gw: typeof a) => await gw.app.inject({ method: 'GET', url, headers })
  /** The session as stored, in the view's shape. */
  const stored = async () => {
    const row = await a.app.prisma.session.findUniqueOrThrow({ where: { id: created.id } })
    return { id: row.id, title: row.title, language: row.language, upstreamSessionId: row.upstreamSessionId, upstreamTaskId: row.upstreamTaskId, resetCount: row.resetCount, createdAt: row.createdAt.toISOString(), updatedAt: row.updatedAt.toISOString() }
  }
  const bothShow = async (what: string) => {
    const want = await stored()
    const taken = await soon(async () => JSON.stringify((await read(a)).json()) === JSON.stringify(want) && JSON.stringify((await read(b)).json()) === JSON.stringify(want))
    t.ok(taken < 2000, `${what}: both instances read the stored session (${taken} ms)`)
  }

  // both hold the view now
  t.same((await read(a)).json(), await stored())
  t.same((await read(b)).json(), await stored())
  t.equal((await read(b)).json().title, 'Trip')

  // the cache holds: a write behind the gateway's back is not seen (the TTL is its only bound)
  await a.app.prisma.$executeRaw`UPDATE "Session" SET title = 'behind its back' WHERE id = ${created.id}::uuid`
  t.equal((await read(a)).json().title, 'Trip', 'A serves its cached view')
  t.equal((await read(b)).json().title, 'Trip', 'B serves its cached view')
  await a.app.prisma.$executeRaw`UPDATE "Session" SET title = 'Trip' WHERE id = ${created.id}::uuid`

  // another tenant's key gets 404 from a cached view as from the database
  t.equal((await globex.as('alice', { method: 'GET', url })).statusCode, 404)
  t.equal((await b.app.inject({ method: 'GET', url, headers: { ...headers, 'x-user-id': 'bob' } })).statusCode, 404, 'another user of the same tenant: 404')

  // a reset through A: a new upstream session, resetCount 1
  await a.sim.control('POST', 'sessions/forget', { session_id: created.upstreamSessionId })
  t.equal((await a.app.inject({ method: 'GET', url: `${url}/state`, headers })).statusCode, 200)
  t.equal((await read(a)).json().resetCount, 1, 'A reads the reset at once')
  await bothShow('after a reset through A')
  t.not((await read(b)).json().upstreamSessionId, created.upstreamSessionId)

  // a reset through B
  const current = (await read(b)).json()
  await a.sim.control('POST', 'sessions/forget', { session_id: current.upstreamSessionId })
  t.equal((await b.app.inject({ method: 'GET', url: `${url}/state`, headers })).statusCode, 200)
  await bothShow('after a reset through B')
  t.equal((await read(a)).json().resetCount, 2)

  // a silent edit through B saves the session's new state (its updatedAt moves)
  const before = (await read(a)).json().updatedAt
  const turn = await b.app.inject({ method: 'POST', url: `${url}/turns`, headers, payload: { text: '[scenario:silent-edit] add a title' } })
  t.equal(turn.statusCode, 202, turn.body)
  const ended = await soon(async () => (await b.app.inject({ method: 'GET', url: `${url}/turns/${turn.json().id}`, headers })).json().status !== 'running')
  t.ok(ended < Infinity, 'the turn ended')
  await bothShow('after a turn through B')
  t.not((await read(a)).json().updatedAt, before, 'A shows the state saved by the turn on B')

  // the user deleted through A: B answers 404, not its cached view
  t.equal((await acme.as('alice', { method: 'DELETE', url: '/v1/users/alice' })).statusCode, 200)
  const gone = await soon(async () => (await read(b)).statusCode === 404 && (await read(a)).statusCode === 404)
  t.ok(gone < 2000, `both answer 404 after the user's deletion (${gone} ms)`)
})
