// Continue in the web app (contract §3.2, v1.9): GET /v1/sessions/:id/web-link answers the
// `.../workspace/claim?ct=<claim_token>` link, never one that carries the upstream token,
// cached for the claim token's lifetime; GraphQL Session.webLink gives the same.
import t from 'tap'
import { decrypt } from '../../src/db/crypto.ts'
import { buildGateway } from '../helpers/app.ts'
import { gql } from '../graphql/helpers.ts'

t.test('the web link: a claim link, cached, the same in GraphQL, never the token', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/web-link` })
  t.equal(res.statusCode, 200, res.body)
  const link = res.json()
  t.match(link.url, /^https:\/\/nemovideo\.com\/workspace\/claim\?ct=clm_[\w-]+$/)
  t.ok(Date.parse(link.expiresAt) > Date.now() + 6 * 24 * 3600_000, 'valid for the claim token\'s 7 days')
  const token = decrypt(gw.app.encryptionKey, (await gw.app.prisma.credential.findFirstOrThrow()).tokenCiphertext)
  t.notOk(link.url.includes(token) || /[?&]token=/.test(link.url) || link.url.includes('nmv_usr_'), 'never the upstream token')

  const again = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/web-link` })).json()
  t.equal(again.url, link.url)
  const q = await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { webLink { url expiresAt } } }', { id: session.id })
  t.same(q.body.data?.session.webLink, link, 'GraphQL gives the same link')
  t.equal((await gw.sim.counters()).requests['claim-token'], 1, 'one claim token for its lifetime')

  const other = await acme.as('bob', { method: 'GET', url: `/v1/sessions/${session.id}/web-link` })
  t.equal(other.statusCode, 404, 'another user\'s session is not found')
})
