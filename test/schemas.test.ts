// Route schemas are compiled on a route's first use (src/options.ts): a schema that does not
// compile would fail that route's first request, not the boot. Here the whole app is built
// with every schema compiled at boot, as Fastify does by default, so such a schema fails this
// test instead; and a route behaves the same whichever way its schemas were compiled.
import t from 'tap'
import { schemaController } from '../src/options.ts'
import { buildGateway, type TestGateway } from './helpers/app.ts'

async function behaviour (gw: TestGateway): Promise<unknown[]> {
  const acme = await gw.tenant('acme')
  const created = await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })
  const invalid = await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: { language: 42 } })
  const page = await acme.as('u1', { method: 'GET', url: '/v1/sessions?limit=abc' })
  const listed = await acme.as('u1', { method: 'GET', url: '/v1/sessions?limit=5' })
  const head = await acme.as('u1', { method: 'HEAD', url: '/v1/sessions?limit=5' })
  return [
    created.statusCode, Object.keys(created.json()).sort(),
    invalid.statusCode, invalid.json().code, invalid.json().detail,
    page.statusCode, page.json().code,
    listed.statusCode, Object.keys(listed.json()).sort(),
    head.statusCode
  ]
}

t.test('every route schema compiles, and compiled at boot or on first use a route answers the same', async (t) => {
  const eager = await buildGateway(t, { server: { schemaController: schemaController({ lazy: false }) } })
  const lazy = await buildGateway(t)
  const [a, b] = [await behaviour(eager), await behaviour(lazy)]
  t.same(b, a)
  t.equal(a[0], 201)
  t.equal(a[2], 400)
  t.equal(a[3], 'GW_ERR_VALIDATION')
})
