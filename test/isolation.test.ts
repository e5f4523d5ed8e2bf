// Tenants are walled off: another tenant's ids give 404 and never data.
import t from 'tap'
import { buildGateway } from './helpers/app.ts'

t.test('tenant isolation on every route', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const b = await gw.tenant('tenant-b')

  const sessionA = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'secret A' } })).json()
  const sessionB = (await b.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'secret B' } })).json()

  // the same external user id in two tenants is two users
  const usersNamedAlice = await gw.app.prisma.user.findMany({ where: { externalId: 'alice' } })
  t.equal(usersNamedAlice.length, 2)

  const crossReads = [
    await b.as('alice', { method: 'GET', url: `/v1/sessions/${sessionA.id}` }),
    await a.as('alice', { method: 'GET', url: `/v1/sessions/${sessionB.id}` })
  ]
  for (const res of crossReads) {
    t.equal(res.statusCode, 404)
    t.equal(res.json().code, 'GW_ERR_NOT_FOUND')
    t.notMatch(res.body, /secret/)
  }

  const listB = (await b.as('alice', { method: 'GET', url: '/v1/sessions' })).json()
  t.same(listB.items.map((s: { id: string }) => s.id), [sessionB.id], 'B sees only its own alice\'s sessions')

  // another user of the same tenant does not see alice's sessions either
  const bob = await a.as('bob', { method: 'GET', url: `/v1/sessions/${sessionA.id}` })
  t.equal(bob.statusCode, 404)
  t.same((await a.as('bob', { method: 'GET', url: '/v1/sessions' })).json().items, [])

  // credits are per user: B's alice has her own token
  const creds = await gw.app.prisma.credential.findMany()
  t.equal(new Set(creds.map(c => c.userId)).size, 2)
})
