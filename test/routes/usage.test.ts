// Usage as a tenant reads it: what the simulator charged for turns and exports (read from the
// users' balances) is what /v1/usage reports, per user and per day, the same through REST,
// GraphQL and the admin CLI; a user sees their own, a tenant-wide call the whole tenant, and
// another tenant sees nothing of it.
import t from 'tap'
import { runAdmin } from '../../src/cli/admin.ts'
import { exportSetup, renderableSession, settled } from '../helpers/exports.ts'
import { gql } from '../graphql/helpers.ts'

const START = 1000
const RENDER_COST = 7

t.test('credits spent through turns and exports are the usage, per user and per day, through REST, GraphQL and the CLI', { timeout: 120_000 }, async (t) => {
  const { gw, acme, session, receiver } = await exportSetup(t, { sim: { anonymousCredits: START, renderCost: RENDER_COST } })
  const today = new Date().toISOString().slice(0, 10)

  // alice: a generation turn (exportSetup) and an export to its webhook; bob: two turns, no export
  const started = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports`, payload: {} })
  t.equal(started.statusCode, 202)
  t.equal((await settled(acme, 'alice', started.json().id)).status, 'completed')
  await renderableSession(acme, 'bob')
  const bobSession = await renderableSession(acme, 'bob')
  t.ok(bobSession.id)
  await receiver.waitFor(1)

  // what each user spent, by the upstream's own balance
  const spent = async (user: string) => START - (await acme.as(user, { method: 'GET', url: '/v1/credits' })).json().available
  const alice = await spent('alice')
  const bob = await spent('bob')
  t.ok(alice > RENDER_COST, `alice spent ${alice} credits (a turn and an export)`)
  t.ok(bob > 0, `bob spent ${bob} credits (two turns)`)

  // REST, as the user: their own usage only
  const mine = await acme.as('alice', { method: 'GET', url: `/v1/usage?from=${today}&to=${today}` })
  t.equal(mine.statusCode, 200)
  t.match(mine.json(), { scope: 'user', userId: 'alice', groupBy: 'day', totals: { creditsSpent: alice, turns: 1, exports: { completed: 1, failed: 0, cancelled: 0 } } })
  t.same(mine.json().rows.map((r: any) => [r.day, r.creditsSpent]), [[today, alice]])

  // REST, tenant-wide (no X-User-Id): per user and per day
  const tenantWide = async (query: string) => await gw.app.inject({ method: 'GET', url: `/v1/usage?${query}`, headers: { authorization: `Bearer ${acme.key}` } })
  // the delivery's outcome is written when the receiver has answered
  let byUser = (await tenantWide('groupBy=user')).json()
  for (let i = 0; i < 100 && byUser.totals.webhookDeliveries.delivered < 1; i++) {
    await new Promise((resolve) => setTimeout(resolve, 50))
    byUser = (await tenantWide('groupBy=user')).json()
  }
  t.equal(byUser.scope, 'tenant')
  const users = Object.fromEntries(byUser.rows.map((r: any) => [r.userId, r]))
  t.match(users.alice, { creditsSpent: alice, turns: 1, exports: { completed: 1 } })
  t.match(users.bob, { creditsSpent: bob, turns: 2, exports: { completed: 0 } })
  t.equal(byUser.totals.creditsSpent, alice + bob)
  t.equal(byUser.totals.webhookDeliveries.delivered, 1, 'the export.completed webhook, delivered')
  const byDay = (await tenantWide(`groupBy=day&from=${today}&to=${today}`)).json()
  t.same(byDay.rows.map((r: any) => [r.day, r.creditsSpent, r.turns]), [[today, alice + bob, 3]])

  // GraphQL gives the same answers
  const q = 'query ($g: UsageGroupBy, $w: Boolean) { usage(groupBy: $g, tenantWide: $w) { scope totals { creditsSpent turns } rows { day userId creditsSpent } } }'
  const own = await gql(acme, 'bob', q, { g: 'DAY' })
  t.match(own.body.data?.usage, { scope: 'USER', totals: { creditsSpent: bob, turns: 2 }, rows: [{ day: today, creditsSpent: bob }] })
  const all = await gql(acme, 'bob', q, { g: 'USER', w: true })
  t.match(all.body.data?.usage.totals, { creditsSpent: alice + bob, turns: 3 })
  t.same(Object.fromEntries(all.body.data?.usage.rows.filter((r: any) => r.userId !== null).map((r: any) => [r.userId, r.creditsSpent])), { alice, bob })

  // the admin CLI too
  const cli = await runAdmin(['usage', 'acme', '--group-by', 'user'], gw.app.domain) as any
  t.same(Object.fromEntries(cli.rows.filter((r: any) => r.userId !== null).map((r: any) => [r.userId, r.creditsSpent])), { alice, bob })
  const cliAlice = await runAdmin(['usage', acme.id, '--user', 'alice', '--from', today, '--to', today], gw.app.domain) as any
  t.match(cliAlice, { scope: 'user', totals: { creditsSpent: alice } })

  // another tenant sees none of it, and its own usage is empty
  const other = await gw.tenant('globex')
  const theirs = await gw.app.inject({ method: 'GET', url: '/v1/usage?groupBy=user', headers: { authorization: `Bearer ${other.key}` } })
  t.same(theirs.json().rows, [])
  t.equal(theirs.json().totals.creditsSpent, 0)
  const theirGql = await gql(other, 'alice', q, { g: 'DAY', w: true })
  t.same(theirGql.body.data?.usage.rows, [])
})

t.test('a bad range or grouping is a problem document, never a 500', async (t) => {
  const { acme } = await exportSetup(t, { endpoint: false })
  for (const query of ['from=2026-13-01', 'from=yesterday', 'from=2026-02-10&to=2026-02-01', 'from=2020-01-01&to=2026-01-01', 'groupBy=week']) {
    const res = await acme.as('alice', { method: 'GET', url: `/v1/usage?${query}` })
    t.equal(res.statusCode, 400, query)
    t.equal(res.headers['content-type'], 'application/problem+json; charset=utf-8', query)
    t.equal(res.json().code, 'GW_ERR_VALIDATION', query)
  }
  const gqlBad = await gql(acme, 'alice', '{ usage(from: "2026-02-30") { totals { turns } } }')
  t.equal(gqlBad.body.errors?.[0]?.extensions.code, 'GW_ERR_VALIDATION')
})

t.test('a client token reads its own user\'s usage with usage:read, never the whole tenant\'s', async (t) => {
  const { gw, acme, session } = await exportSetup(t, { endpoint: false })
  const turn = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: 'hello' } })
  t.equal(turn.statusCode, 202)
  const mint = async (scopes?: string[]): Promise<string> => {
    const res = await acme.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: scopes === undefined ? {} : { scopes } })
    t.equal(res.statusCode, 201)
    const token = res.json().token as string
    gw.secret(token)
    return token
  }
  const bearer = (token: string) => ({ authorization: `Bearer ${token}` })
  const plain = await mint()
  const denied = await gw.app.inject({ method: 'GET', url: '/v1/usage', headers: bearer(plain) })
  t.equal(denied.statusCode, 403, 'usage:read is not among a client token\'s defaults')
  t.equal(denied.json().scope, 'usage:read')
  const reader = await mint(['usage:read'])
  const own = await gw.app.inject({ method: 'GET', url: '/v1/usage', headers: bearer(reader) })
  t.equal(own.statusCode, 200)
  t.equal(own.json().scope, 'user', 'without X-User-Id, a client token is still its own user')
  const viaKey = (await acme.as('alice', { method: 'GET', url: '/v1/usage' })).json()
  t.ok(viaKey.totals.turns >= 1)
  t.same(own.json().totals, viaKey.totals, 'the same user\'s usage as the API key with X-User-Id: alice sees')
  const wide = await gw.app.inject({ method: 'POST', url: '/graphql', headers: { ...bearer(reader), 'content-type': 'application/json' }, payload: { query: '{ usage(tenantWide: true) { totals { turns } } }' } })
  t.equal(wide.json().errors?.[0]?.extensions.code, 'GW_ERR_FORBIDDEN', 'tenant-wide usage is the API key\'s')
})
