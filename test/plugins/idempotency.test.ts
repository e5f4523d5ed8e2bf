import t from 'tap'
import { buildGateway } from '../helpers/app.ts'

t.test('Idempotency-Key: replay, mismatch, per-tenant scope', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const other = await gw.tenant('other')
  const post = async (tenant: typeof acme, key: string, payload: object) => await tenant.as('alice', {
    method: 'POST', url: '/v1/sessions', payload, headers: { 'idempotency-key': key }
  })

  const first = await post(acme, 'k-1', { title: 'one' })
  t.equal(first.statusCode, 201)
  const retry = await post(acme, 'k-1', { title: 'one' })
  t.equal(retry.statusCode, 201)
  t.same(retry.json(), first.json(), 'the stored response is replayed')
  t.equal(retry.headers['idempotent-replayed'], 'true')
  t.equal(retry.headers.location, first.headers.location)
  t.equal(await gw.app.prisma.session.count(), 1, 'the work happened once')

  const mismatch = await post(acme, 'k-1', { title: 'two' })
  t.equal(mismatch.statusCode, 422)
  t.equal(mismatch.json().code, 'GW_ERR_IDEMPOTENCY_MISMATCH')

  const otherTenant = await post(other, 'k-1', { title: 'one' })
  t.equal(otherTenant.statusCode, 201)
  t.not(otherTenant.json().id, first.json().id, 'keys are scoped per tenant')

  const bad = await post(acme, 'k\u0001', { title: 'x' })
  t.equal(bad.statusCode, 400)
})

t.test('Idempotency-Key: a concurrent retry gets 409, a failed upstream call is not stored', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  await acme.as('alice', { method: 'GET', url: '/v1/credits' })
  await gw.sim.fault({ endpoint: 'create-session', delayMs: 400 })
  const req = async () => await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {}, headers: { 'idempotency-key': 'same' } })
  const [a, b] = await Promise.all([req(), new Promise(resolve => setTimeout(resolve, 100)).then(req)])
  t.same([a.statusCode, b.statusCode].sort(), [201, 409])
  t.equal(b.json().code, 'GW_ERR_IDEMPOTENCY_IN_FLIGHT')

  await gw.sim.fault({ endpoint: 'create-session', status: 503, body: { detail: 'busy' } })
  const failed = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {}, headers: { 'idempotency-key': 'flaky' } })
  t.equal(failed.statusCode, 502)
  const retried = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {}, headers: { 'idempotency-key': 'flaky' } })
  t.equal(retried.statusCode, 201, 'a 5xx is not replayed: the retry really retries')
})
