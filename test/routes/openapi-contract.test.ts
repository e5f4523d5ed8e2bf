// The served OpenAPI document and the server say the same thing. Every documented operation
// is called the ways a client can get it wrong (no credentials, a wrong admin token, unknown
// or malformed ids, a wrong body type, a body too large, an empty body) and every error answer
// must be a status the operation documents, with the documented content type, matching the
// documented schema. Unknown methods on known paths are 405 with Allow; the documented
// Idempotency-Key and upload URL schemas accept exactly what the server accepts.
import t from 'tap'
import { randomUUID } from 'node:crypto'
import { Ajv } from 'ajv'
import addFormatsModule from 'ajv-formats'
import type { LightMyRequestResponse } from 'fastify'
import { ADMIN_TOKEN, buildGateway } from '../helpers/app.ts'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv
const METHODS = ['get', 'post', 'put', 'patch', 'delete'] as const

interface Operation { responses: Record<string, { content?: Record<string, { schema: unknown }> }>, parameters?: Array<{ in: string, name: string, schema: unknown }>, requestBody?: { content: Record<string, { schema: unknown }> } }
type Doc = { paths: Record<string, Partial<Record<typeof METHODS[number], Operation>>>, components: Record<string, unknown> }

function validator (doc: Doc): (schema: unknown, value: unknown) => string | null {
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true }))
  const cache = new Map<unknown, ReturnType<Ajv['compile']>>()
  return (schema, value) => {
    let check = cache.get(schema)
    if (!check) {
      check = ajv.compile({ ...(schema as object), components: doc.components })
      cache.set(schema, check)
    }
    return check(value) ? null : ajv.errorsText(check.errors)
  }
}

t.test('every documented operation: its error answers are documented, as application/problem+json, and match the schema', async (t) => {
  const gw = await buildGateway(t)
  const doc = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc
  const valid = validator(doc)
  const acme = await gw.tenant('acme')
  const checked = new Map<string, Set<number>>()

  const expectDocumented = (what: string, op: Operation, res: LightMyRequestResponse) => {
    if (res.statusCode < 400) return
    const documented = op.responses[String(res.statusCode)]
    if (!documented) {
      t.fail(`${what}: ${res.statusCode} is not documented (${res.body.slice(0, 200)})`)
      return
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!
    t.same(Object.keys(documented.content ?? {}), ['application/problem+json'], `${what}: the ${res.statusCode} is documented as problem+json`)
    t.equal(type, 'application/problem+json', `${what}: served as problem+json`)
    const schema = documented.content?.[type]?.schema
    if (schema) t.equal(valid(schema, res.json()), null, `${what}: the ${res.statusCode} matches the documented schema`)
    const key = what.split(' (')[0]!
    if (!checked.has(key)) checked.set(key, new Set())
    checked.get(key)!.add(res.statusCode)
  }

  for (const [path, ops] of Object.entries(doc.paths)) {
    for (const method of METHODS) {
      const op = ops[method]
      if (!op) continue
      const name = `${method.toUpperCase()} ${path}`
      // every documented error response is problem+json, whether or not this test provokes it
      for (const [status, response] of Object.entries(op.responses)) {
        if (Number(status) >= 400) t.same(Object.keys(response.content ?? {}), ['application/problem+json'], `${name}: ${status} documented as problem+json`)
      }
      if (path.startsWith('/health/')) continue
      const admin = path.startsWith('/admin/')
      const url = (id: () => string) => path.replace(/\{[^}]+\}/g, () => id())
      const goodAuth: Record<string, string> = admin ? { authorization: `Bearer ${ADMIN_TOKEN}` } : { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
      const hasBody = op.requestBody !== undefined
      const call = async (o: { headers?: Record<string, string>, url?: string, payload?: string | object, contentType?: string }) => await gw.app.inject({
        method: method.toUpperCase() as 'GET',
        url: o.url ?? url(randomUUID),
        headers: { ...(o.contentType ? { 'content-type': o.contentType } : {}), ...o.headers },
        ...(o.payload === undefined ? {} : { payload: o.payload })
      })
      const json = hasBody ? { payload: {}, contentType: 'application/json' } : {}

      expectDocumented(`${name} (no credentials)`, op, await call({ headers: admin ? {} : { 'x-user-id': 'alice' }, ...json }))
      if (admin) expectDocumented(`${name} (wrong admin token)`, op, await call({ headers: { authorization: 'Bearer not-the-admin-token' }, ...json }))
      expectDocumented(`${name} (unknown ids)`, op, await call({ headers: goodAuth, ...json }))
      if (path.includes('{')) expectDocumented(`${name} (malformed ids)`, op, await call({ headers: goodAuth, url: url(() => 'not-a-uuid'), ...json }))
      if (hasBody) {
        expectDocumented(`${name} (text/plain body)`, op, await call({ headers: goodAuth, payload: 'hello', contentType: 'text/plain' }))
        expectDocumented(`${name} (body too large)`, op, await call({ headers: goodAuth, payload: JSON.stringify({ x: 'a'.repeat(1_100_000) }), contentType: 'application/json' }))
        expectDocumented(`${name} (not JSON)`, op, await call({ headers: goodAuth, payload: '{', contentType: 'application/json' }))
      }
    }
  }
  t.ok(checked.size > 30, `error answers of ${checked.size} operations checked`)
})

t.test('an unknown method on a known path is 405 with Allow listing the documented methods', async (t) => {
  const gw = await buildGateway(t)
  const doc = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc
  const acme = await gw.tenant('acme')
  for (const [path, ops] of Object.entries(doc.paths)) {
    const documented = METHODS.filter((m) => ops[m] !== undefined).map((m) => m.toUpperCase())
    const allowed = new Set([...documented, ...(documented.includes('GET') ? ['HEAD'] : [])])
    const url = path.replace(/\{[^}]+\}/g, () => randomUUID())
    for (const method of ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const) {
      if (allowed.has(method)) continue
      const res = await gw.app.inject({ method, url, headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' } })
      t.equal(res.statusCode, 405, `${method} ${path}: 405`)
      t.equal(res.json().code, 'GW_ERR_METHOD_NOT_ALLOWED')
      t.match(res.headers['content-type'], /^application\/problem\+json/)
      t.same(String(res.headers.allow ?? '').split(/,\s*/).sort(), [...allowed].sort(), `${method} ${path}: Allow names ${[...allowed].join(', ')}`)
    }
  }
  const unknown = await gw.app.inject({ method: 'GET', url: '/v1/nothing-here' })
  t.equal(unknown.statusCode, 404, 'an unknown path is still 404')
})

t.test('the documented Idempotency-Key accepts exactly what the server accepts', async (t) => {
  const gw = await buildGateway(t)
  const doc = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc
  const valid = validator(doc)
  const acme = await gw.tenant('acme')
  const param = doc.paths['/v1/sessions']!.post!.parameters!.find((p) => p.in === 'header' && p.name === 'idempotency-key')!
  t.ok(param, 'documented on POST /v1/sessions')
  const a = (n: number) => 'a'.repeat(n)
  const candidates = ['k', a(255), a(256), a(257), `"${a(255)}"`, `"${a(256)}"`, 'has space', '"quoted"', 'caf\u00e9', '', '!~']
  for (const key of candidates) {
    const docSays = valid(param.schema, key) === null
    const res = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {}, headers: { 'idempotency-key': key } })
    const serverSays = res.statusCode === 201
    t.equal(docSays, serverSays, `${JSON.stringify(key.length > 20 ? `${key.slice(0, 8)}...(${key.length})` : key)}: the document ${docSays ? 'accepts' : 'refuses'}, the server answers ${res.statusCode}`)
    if (!serverSays) t.equal(res.statusCode, 400)
  }
})

t.test('an upload URL the document accepts is not refused with 415; the document refuses what the server refuses', async (t) => {
  const gw = await buildGateway(t)
  const doc = (await gw.app.inject({ method: 'GET', url: '/openapi.json' })).json() as Doc
  const valid = validator(doc)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const body = doc.paths['/v1/sessions/{sessionId}/uploads']!.post!.requestBody!.content['application/json']!.schema
  const candidates = ['https://com', 'https://example.com/clip.mp4', 'https://example.com/a/b/Clip.MOV?sig=1#t', 'https://example.com/', 'https://example.com/notes.txt', 'http://example.com/song.mp3', 'https://example.com/clip.mp4/']
  for (const url of candidates) {
    const docSays = valid(body, { urls: [url] }) === null
    const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/uploads`, payload: { urls: [url] } })
    t.equal(docSays, res.statusCode === 201, `${url}: the document ${docSays ? 'accepts' : 'refuses'}, the server answers ${res.statusCode}`)
    t.not(res.statusCode, 415, `${url}: a JSON body is never an unsupported media type`)
  }
})
