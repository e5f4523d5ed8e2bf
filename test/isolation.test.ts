// Tenants are walled off: another tenant's ids give 404 and never data.
import t from 'tap'
import { buildGateway } from './helpers/app.ts'
import { waitFor } from './helpers/sse.ts'

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

t.test('every session route answers 404 for another tenant\'s session, and calls nothing upstream', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const b = await gw.tenant('tenant-b')
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const turn = await a.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:text] hi' } })
  t.equal(turn.statusCode, 202)
  await waitFor(async () => (await a.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/turns/${turn.json().id}` })).json(), v => v.status !== 'running')
  const before = await gw.sim.counters()
  const id = session.id
  const routes: Array<{ method: 'GET' | 'POST', url: string, payload?: object }> = [
    { method: 'GET', url: `/v1/sessions/${id}` },
    { method: 'GET', url: `/v1/sessions/${id}/turns` },
    { method: 'GET', url: `/v1/sessions/${id}/turns/${turn.json().id}` },
    { method: 'POST', url: `/v1/sessions/${id}/turns`, payload: { text: 'hi' } },
    { method: 'GET', url: `/v1/sessions/${id}/events` },
    { method: 'GET', url: `/v1/sessions/${id}/state` },
    { method: 'POST', url: `/v1/sessions/${id}/say`, payload: { text: 'show tracks' } },
    { method: 'GET', url: `/v1/sessions/${id}/uploads` },
    { method: 'POST', url: `/v1/sessions/${id}/uploads`, payload: { urls: ['https://example.com/a.mp4'] } }
  ]
  for (const route of routes) {
    for (const [who, as] of [['other tenant', b.as], ['other user', (_u: string, o: object) => a.as('mallory', o as never)]] as const) {
      const res = await as('alice', route)
      t.equal(res.statusCode, 404, `${who}: ${route.method} ${route.url}`)
      t.equal(res.json().code, 'GW_ERR_NOT_FOUND')
    }
  }
  const after = await gw.sim.counters()
  t.equal((after.requests.upload ?? 0) - (before.requests.upload ?? 0), 0, 'no upload reached the upstream')
  t.equal((after.requests['run-sse'] ?? 0) - (before.requests['run-sse'] ?? 0), 0, 'no turn reached the upstream')
  t.same(after.requests, before.requests, 'the probes reached nothing upstream at all')
})
