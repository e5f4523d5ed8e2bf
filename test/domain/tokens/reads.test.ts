// Reads never spend a mint, share one upstream call, and answer a zero balance with 200; token
// states the upstream can undo (2001 exhausted, a 1001 on a token that still works) are
// re-checked rather than kept for good.
import t from 'tap'
import { decrypt } from '../../../src/db/crypto.ts'
import { buildGateway, type TestGateway } from '../../helpers/app.ts'
import { gql } from '../../graphql/helpers.ts'

async function tokenOf (gw: TestGateway): Promise<string> {
  const row = await gw.app.prisma.credential.findFirstOrThrow({ orderBy: { createdAt: 'desc' } })
  return decrypt(gw.app.encryptionKey, row.tokenCiphertext)
}

const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

t.test('GET /v1/credits and the GraphQL credits query never mint', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const rest = await acme.as('newcomer', { method: 'GET', url: '/v1/credits' })
  t.equal(rest.statusCode, 200, rest.body)
  t.match(rest.json(), { token: 'none yet', available: 100, frozen: 0, total: 100, tokenMode: 'anonymous' }, 'the allowance a first mint grants')
  const q = await gql(acme, 'newcomer', '{ viewer { credits { available total token } } }')
  t.same(q.body.data?.viewer.credits, { available: 100, total: 100, token: 'none yet' })
  const say = await acme.as('newcomer', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(say.statusCode, 201, 'an action mints')
  const counters = await gw.sim.counters()
  t.equal(counters.mints, 1, 'only the action minted')
  t.equal(await gw.app.prisma.mintLedger.count(), 1)
  const after = await acme.as('newcomer', { method: 'GET', url: '/v1/credits' })
  t.match(after.json(), { token: 'active', available: 100 })
})

t.test('50 concurrent reads of one balance or one state make one upstream call', async (t) => {
  const gw = await buildGateway(t, { config: { CREDITS_CACHE_TTL_MS: 0 } })
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  // the upstream answers slowly, so all 50 reads are in flight together
  await gw.sim.configure({ latencyMs: 300 })
  const before = await gw.sim.counters()
  const balances = await Promise.all(Array.from({ length: 50 }, async () => await acme.as('alice', { method: 'GET', url: '/v1/credits' })))
  t.same([...new Set(balances.map((r) => r.statusCode))], [200])
  const mid = await gw.sim.counters()
  t.equal(mid.requests.credits! - before.requests.credits!, 1, 'one balance call for 50 reads')
  const states = await Promise.all(Array.from({ length: 50 }, async () => await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/state` })))
  t.same([...new Set(states.map((r) => r.statusCode))], [200])
  const end = await gw.sim.counters()
  t.equal(end.requests.state! - mid.requests.state!, 1, 'one state call for 50 reads')
})

t.test('a zero balance is an answer: reads 200 with the hint, actions 402', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.control('PUT', 'credits', { token: await tokenOf(gw), available: 0 })
  await gw.sim.fault({ endpoint: 'create-session', code: 2001, message: 'insufficient credits' })
  const refused = await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(refused.statusCode, 402)
  const read = await acme.as('carol', { method: 'GET', url: '/v1/credits' })
  t.equal(read.statusCode, 200, read.body)
  t.match(read.json(), { available: 0, token: 'exhausted', hint: /register\?bind=anon_/ })
})

t.test('2001 is re-checked by a balance read after the back-off: a top-up ends it', async (t) => {
  const gw = await buildGateway(t, { config: { CREDITS_EXHAUSTED_RECHECK_MS: 300 } })
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('erin', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.fault({ endpoint: 'create-session', code: 2001, message: 'insufficient credits' })
  t.equal((await acme.as('erin', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 402)
  t.equal((await gw.app.prisma.credential.findFirstOrThrow()).state, 'exhausted')
  const during = await acme.as('erin', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(during.statusCode, 402, 'within the back-off the state stands')
  await gw.sim.control('PUT', 'credits', { token: await tokenOf(gw), available: 500 })
  await sleep(350)
  const res = await acme.as('erin', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 201, 'after the back-off a balance read finds the top-up')
  t.equal((await gw.app.prisma.credential.findFirstOrThrow()).state, 'active')
  t.equal((await gw.sim.counters()).mints, 1, 'no re-mint')
  t.match((await acme.as('erin', { method: 'GET', url: '/v1/credits' })).json(), { available: 500, token: 'active' })
})

t.test('a 1001 on a token that still works is re-verified, not re-minted', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('frank', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  await gw.sim.fault({ endpoint: 'create-session', code: 1001, message: 'invalid token' })
  const res = await acme.as('frank', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 201, res.body)
  t.equal((await gw.sim.counters()).mints, 1, 'no re-mint, so no 7-day mint lock')
  t.same((await gw.app.prisma.credential.findMany()).map((c) => c.state), ['active'])
  await gw.sim.fault({ endpoint: 'create-session', code: 1001, message: 'token has been revoked' })
  t.equal((await acme.as('frank', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201, 'a "revoked" the balance read contradicts')
  t.same((await gw.app.prisma.credential.findMany()).map((c) => c.state), ['active'], 'is not believed either')
  t.equal((await gw.sim.counters()).mints, 1)
  // the same token answers 1001 twice in a row and its balance read agrees: it is dead
  await gw.sim.control('POST', 'tokens/expire', { token: await tokenOf(gw) })
  t.equal((await acme.as('frank', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  t.equal((await gw.sim.counters()).mints, 2, 'a confirmed 1001 re-mints')
})

t.test('a mint refused with a week-long Retry-After does not lock the user out for a week', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  await gw.sim.fault({ endpoint: 'anonymous-token', status: 429, headers: { 'retry-after': '604800' } })
  const res = await acme.as('gina', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(res.statusCode, 429)
  t.equal(res.json().code, 'GW_ERR_MINT_LIMIT')
  t.ok(Number(res.headers['retry-after']) <= gw.config.NEMO_RETRY_AFTER_MAX_SEC, `Retry-After ${res.headers['retry-after']}`)
  t.equal((await acme.as('gina', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201, 'the next call mints')
})

t.test('a read on a session whose token died does not mint; the next action does', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('hal', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  await gw.sim.control('POST', 'tokens/expire', { token: await tokenOf(gw) })
  const link = await acme.as('hal', { method: 'GET', url: `/v1/sessions/${session.id}/web-link` })
  t.equal(link.statusCode, 503, link.body)
  t.equal(link.json().code, 'GW_ERR_NO_CREDENTIAL')
  t.match(link.json().detail, /next action/)
  t.equal((await gw.sim.counters()).mints, 1, 'the read spent no mint')
  const state = await acme.as('hal', { method: 'GET', url: `/v1/sessions/${session.id}/state` })
  t.equal(state.statusCode, 503, 'GET /state neither')
  const q = await gql(acme, 'hal', 'query ($id: ID!) { session(id: $id) { state { summary } } }', { id: session.id })
  t.equal(q.body.errors?.[0]?.extensions.code, 'GW_ERR_NO_CREDENTIAL', 'nor the GraphQL state query')
  t.equal((await gw.sim.counters()).mints, 1, 'no read spent a mint')
  t.match((await acme.as('hal', { method: 'GET', url: '/v1/credits' })).json(), { token: 'none yet' })
  t.equal((await acme.as('hal', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  t.equal((await gw.sim.counters()).mints, 2, 'the action minted')
})
