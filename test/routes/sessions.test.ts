import t from 'tap'
import { buildGateway } from '../helpers/app.ts'

t.test('sessions: create, get, list with cursor pagination', async (t) => {
  const gw = await buildGateway(t, { contract: true })
  const acme = await gw.tenant('acme')
  const created = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: { language: 'en', title: 'Trip' } })
  t.equal(created.statusCode, 201)
  const s = created.json()
  t.match(s, { title: 'Trip', language: 'en', resetCount: 0 })
  t.match(s.upstreamSessionId, /^\d{19}$/)
  t.equal(created.headers.location, `/v1/sessions/${s.id}`)

  const got = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${s.id}` })
  t.same(got.json(), s)

  for (let i = 0; i < 4; i++) await acme.as('alice', { method: 'POST', url: '/v1/sessions' })
  const seen: string[] = []
  let cursor: string | null = null
  do {
    const url: string = `/v1/sessions?limit=2${cursor ? `&cursor=${cursor}` : ''}`
    const page = (await acme.as('alice', { method: 'GET', url })).json()
    t.ok(page.items.length <= 2)
    seen.push(...page.items.map((x: { id: string }) => x.id))
    cursor = page.nextCursor
  } while (cursor)
  t.equal(seen.length, 5)
  t.equal(new Set(seen).size, 5, 'no duplicates across pages')
  t.equal(seen[4], s.id, 'newest first')
})

t.test('1002: a session the upstream forgot is reopened, the snapshot kept and session.reset logged', async (t) => {
  const gw = await buildGateway(t, { contract: true })
  const acme = await gw.tenant('acme')
  const s = (await acme.as('alice', { method: 'POST', url: '/v1/sessions' })).json()
  await gw.app.domain.sessions.saveSnapshot(s.id, { draft: { t: [] } })
  await gw.sim.control('POST', 'sessions/forget', { session_id: s.upstreamSessionId })
  const actor = { tenantId: acme.id, userId: (await gw.app.prisma.user.findFirstOrThrow()).id }
  const state = await gw.app.domain.sessions.withSession(actor, s.id, async (ctx) => await gw.app.nemo.getState(ctx.lease.token, ctx.upstreamSessionId))
  t.ok(state, 'the call succeeded on the new upstream session')
  const after = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${s.id}` })).json()
  t.not(after.upstreamSessionId, s.upstreamSessionId)
  t.equal(after.resetCount, 1)
  const row = await gw.app.prisma.session.findUniqueOrThrow({ where: { id: s.id } })
  t.match(row.previousSnapshots, [{ upstreamSessionId: s.upstreamSessionId, snapshot: { draft: { t: [] } } }])
  const events = await gw.app.prisma.sessionEvent.findMany({ where: { sessionId: s.id } })
  t.same(events.map(e => e.type), ['session.reset'])
})

t.test('credits: balance, budget, and a brief cache', async (t) => {
  const gw = await buildGateway(t, { contract: true, config: { CREDITS_CACHE_TTL_MS: 60_000 } })
  const acme = await gw.tenant('acme')
  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${acme.id}`, payload: { creditBudget: 1000 } })
  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const first = await acme.as('alice', { method: 'GET', url: '/v1/credits' })
  t.equal(first.statusCode, 200)
  t.match(first.json(), { available: 100, frozen: 0, total: 100, token: 'active', hint: null, budget: { limit: 1000, spent: 0, remaining: 1000, exceeded: false } })
  const before = (await gw.sim.counters()).requests.credits ?? 0
  for (let i = 0; i < 5; i++) await acme.as('alice', { method: 'GET', url: '/v1/credits' })
  t.equal((await gw.sim.counters()).requests.credits ?? 0, before, 'a burst is served from the cache')
})

t.test('the hot-path caches never hide a change made on this instance', async (t) => {
  // a TTL far longer than the test: anything fresh must come from invalidation, not expiry
  const gw = await buildGateway(t, { contract: true, config: { CREDITS_CACHE_TTL_MS: 60_000, HOT_CACHE_TTL_MS: 60_000 } })
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const read = async () => (await acme.as('alice', { method: 'GET', url: '/v1/credits' })).json()
  t.match(await read(), { tokenMode: 'anonymous', token: 'active', budget: { limit: null } })

  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${acme.id}`, payload: { creditBudget: 700 } })
  t.match(await read(), { budget: { limit: 700, remaining: 700 } }, 'a budget change shows at once')

  // the user's token is revoked by an operator: the next read must not use the cached one
  const [credential] = (await gw.admin({ method: 'GET', url: `/admin/v1/tenants/${acme.id}/credentials` })).json().items
  t.ok(credential, 'the user has a credential')
  await gw.admin({ method: 'DELETE', url: `/admin/v1/tenants/${acme.id}/credentials/${credential.id}` })
  t.match(await read(), { token: 'none yet' }, 'a removed token is not served from the cache')
})
