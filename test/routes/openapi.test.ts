import t from 'tap'
import { readFile } from 'node:fs/promises'
import { buildGateway } from '../helpers/app.ts'

t.test('the committed OpenAPI document is the one the code generates', async (t) => {
  const gw = await buildGateway(t)
  const res = await gw.app.inject({ method: 'GET', url: '/openapi.json' })
  t.equal(res.statusCode, 200)
  const live = res.json()
  t.equal(live.openapi, '3.1.0')
  t.ok(live.paths['/v1/sessions'], 'tenant routes are documented')
  t.ok(live.paths['/v1/sessions/{sessionId}/turns'])
  t.ok(live.components.schemas.Problem, 'the problem document is a shared schema')
  const committed = JSON.parse(await readFile(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'))
  t.same(live, committed, 'openapi/openapi.json is up to date (run `npm run openapi` after changing a route)')
  const docs = await gw.app.inject({ method: 'GET', url: '/docs/' })
  t.equal(docs.statusCode, 200)
})
