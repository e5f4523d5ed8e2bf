// The token pool against the simulator's real mint limits and scripted faults.
import t from 'tap'
import Fastify from 'fastify'
import app from '../../../src/app.ts'
import { buildConfig } from '../../../src/config.ts'
import { decrypt } from '../../../src/db/crypto.ts'
import { buildGateway, type TestGateway } from '../../helpers/app.ts'

async function tokenOf (gw: TestGateway, credentialId?: string): Promise<string> {
  const row = credentialId
    ? await gw.app.prisma.credential.findUniqueOrThrow({ where: { id: credentialId } })
    : await gw.app.prisma.credential.findFirstOrThrow({ orderBy: { createdAt: 'desc' } })
  return decrypt(gw.app.encryptionKey, row.tokenCiphertext)
}

t.test('fifty concurrent first requests for a new user mint exactly one token', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const replies = await Promise.all(Array.from({ length: 50 }, async () =>
    await acme.as('newcomer', { method: 'POST', url: '/v1/sessions', payload: {} })))
  t.same([...new Set(replies.map(r => r.statusCode))], [201])
  const counters = await gw.sim.counters()
  t.equal(counters.mints, 1, 'the simulator saw one mint')
  t.equal(await gw.app.prisma.credential.count(), 1)
  t.equal(await gw.app.prisma.mintLedger.count({ where: { outcome: 'minted' } }), 1)
})

t.test('tokens survive a restart and are encrypted at rest', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const token = await tokenOf(gw)
  const raw = await gw.app.prisma.$queryRawUnsafe<Array<{ t: string }>>('SELECT row_to_json(c)::text AS t FROM "Credential" c')
  t.notOk(raw.some(r => r.t.includes(token)), 'no token in plain text in the database')

  // a second gateway on the same database and key: the same token, no new mint
  const second = Fastify({ logger: false })
  await second.register(app, { config: buildConfig({ ...gw.config, DATABASE_URL: gw.config.DATABASE_URL!, ENCRYPTION_KEY: gw.app.encryptionKey.toString('hex'), LOG_LEVEL: 'silent' } as never) })
  await second.ready()
  t.teardown(() => second.close())
  const res = await second.inject({ method: 'GET', url: '/v1/credits', headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' } })
  t.equal(res.statusCode, 200)
  t.equal((await gw.sim.counters()).mints, 1, 'no second mint after the restart')
})

t.test('1001: an expired token is re-minted and the call retried once', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.control('POST', 'tokens/expire', { token: await tokenOf(gw) })
  const res = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 201, 'the caller never saw the 1001')
  t.equal((await gw.sim.counters()).mints, 2)
  const states = (await gw.app.prisma.credential.findMany({ orderBy: { createdAt: 'asc' } })).map(c => c.state)
  t.same(states, ['expired', 'active'])
})

t.test('1001: a revoked token is quarantined and replaced under a fresh client id', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('bob', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const before = await gw.app.prisma.user.findFirstOrThrow({ where: { externalId: 'bob' } })
  await gw.sim.control('POST', 'tokens/revoke', { token: await tokenOf(gw) })
  const res = await acme.as('bob', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 201)
  const after = await gw.app.prisma.user.findFirstOrThrow({ where: { externalId: 'bob' } })
  t.not(after.clientId, before.clientId, 'a new X-Client-Id, the old one is burnt upstream')
  const states = (await gw.app.prisma.credential.findMany({ orderBy: { createdAt: 'asc' } })).map(c => c.state)
  t.same(states, ['revoked', 'active'])
})

t.test('2001: the token is exhausted and the caller gets 402 with the bind hint', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.fault({ endpoint: 'create-session', code: 2001, message: 'insufficient credits' })
  const res = await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 402)
  t.equal(res.json().code, 'GW_ERR_CREDITS_EXHAUSTED')
  t.match(res.json().hint, /^https:\/\/nemovideo\.com\/register\?bind=anon_/)
  t.equal((await gw.app.prisma.credential.findFirstOrThrow()).state, 'exhausted')
  // no re-mint for an exhausted user: the upstream would refuse it anyway
  const again = await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(again.statusCode, 402)
  t.equal((await gw.sim.counters()).mints, 1)
})

t.test('429: the token is rate limited until Retry-After', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('dave', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.fault({ endpoint: 'create-session', status: 429, headers: { 'retry-after': '2' } })
  const res = await acme.as('dave', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 503)
  t.equal(res.json().code, 'GW_ERR_UPSTREAM_RATE_LIMITED')
  t.ok(Number(res.headers['retry-after']) >= 1)
  const cred = await gw.app.prisma.credential.findFirstOrThrow()
  t.equal(cred.state, 'rate_limited')
  const during = await acme.as('dave', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(during.statusCode, 503, 'still backing off, nothing sent upstream')
  t.equal((await gw.sim.counters()).mints, 1, 'and no mint wasted')
  await new Promise(resolve => setTimeout(resolve, 2100))
  t.equal((await acme.as('dave', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201, 'usable again after Retry-After')
})

t.test('the mint ledger refuses before the upstream budget is burnt', async (t) => {
  const gw = await buildGateway(t, { config: { MINT_LIMIT_PER_IP: 2 } })
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  t.equal((await acme.as('u2', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const third = await acme.as('u3', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(third.statusCode, 429)
  t.equal(third.json().code, 'GW_ERR_MINT_LIMIT')
  t.ok(Number(third.headers['retry-after']) > 6 * 24 * 3600, 'retry when the oldest mint leaves the 7-day window')
  t.equal((await gw.sim.counters()).mints, 2, 'the third mint never reached the upstream')
})

t.test('the upstream per-IP limit answers 429 as a mint limit', async (t) => {
  const gw = await buildGateway(t, { sim: { mintLimitPerIp: 1 } })
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const res = await acme.as('u2', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'GW_ERR_MINT_LIMIT')
  t.ok(res.headers['retry-after'])
})

t.test('a registered token within 24 h of expiry takes no new sessions', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme', { tokenMode: 'registered' })
  const soon = await gw.sim.control('POST', 'tokens', { credits: 100, expiresInMs: 3600_000 }) as { token: string }
  const later = await gw.sim.control('POST', 'tokens', { credits: 100 }) as { token: string }
  gw.secret(soon.token)
  gw.secret(later.token)
  const a = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token: soon.token, label: 'soon', expiresAt: new Date(Date.now() + 3600_000).toISOString() } })
  const b = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token: later.token, label: 'later' } })
  for (let i = 0; i < 3; i++) t.equal((await acme.as(`u${i}`, { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const sessions = await gw.app.prisma.session.findMany()
  t.ok(sessions.every(s => s.credentialId === b.json().id), 'all new sessions on the token that is not expiring')
  const list = await gw.admin({ method: 'GET', url: `/admin/v1/tenants/${acme.id}/credentials` })
  t.equal(list.json().items.find((c: { id: string }) => c.id === a.json().id).state, 'expiring')
})
