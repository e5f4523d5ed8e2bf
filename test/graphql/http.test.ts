import t from 'tap'
import { getIntrospectionQuery } from 'graphql'
import { buildGateway } from '../helpers/app.ts'
import { MAX_COST } from '../../src/graphql/limits.ts'
import { GRAPHQL_RESPONSE, gql, settled } from './helpers.ts'

const SESSION_FIELDS = 'id title language upstreamSessionId upstreamTaskId resetCount createdAt updatedAt'
const SIM = { stepDelayMs: 5, generationMs: 50, heartbeatIntervalMs: 10 }

t.test('viewer credits and sessions equal REST', async (t) => {
  const gw = await buildGateway(t, { sim: SIM, config: { CREDITS_CACHE_TTL_MS: 60_000 } })
  const acme = await gw.tenant('acme')
  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${acme.id}`, payload: { creditBudget: 1000 } })

  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const rest = await acme.as('alice', { method: 'GET', url: '/v1/credits' })
  t.equal(rest.statusCode, 200)
  const res = await gql(acme, 'alice', '{ viewer { id credits { available frozen total tokenMode token hint budget { limit spent remaining exceeded } cachedAt } } }')
  t.equal(res.status, 200)
  t.notOk(res.body.errors)
  t.equal(res.body.data?.viewer.id, 'alice')
  t.same(res.body.data?.viewer.credits, rest.json(), 'the same balance, budget and cache time as GET /v1/credits')

  for (let i = 0; i < 3; i++) await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: `s${i}` } })
  const restPage = (await acme.as('alice', { method: 'GET', url: '/v1/sessions?limit=2' })).json()
  const page = await gql(acme, 'alice', `{ viewer { sessions(first: 2) { items { ${SESSION_FIELDS} } nextCursor } } }`)
  t.same(page.body.data?.viewer.sessions, restPage, 'the same first page as GET /v1/sessions')
  const next = await gql(acme, 'alice', `query ($after: String) { viewer { sessions(first: 2, after: $after) { items { ${SESSION_FIELDS} } nextCursor } } }`, { after: restPage.nextCursor })
  const restNext = (await acme.as('alice', { method: 'GET', url: `/v1/sessions?limit=2&cursor=${restPage.nextCursor}` })).json()
  t.same(next.body.data?.viewer.sessions, restNext, 'and the same second page')
})

t.test('createSession, then session(id) equals REST; state, say and turns too', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')

  const created = await gql(acme, 'alice', `mutation { createSession(language: "en", title: "Trip") { ${SESSION_FIELDS} } }`)
  t.notOk(created.body.errors)
  const session = created.body.data?.createSession
  t.match(session, { title: 'Trip', language: 'en', resetCount: 0 })
  const rest = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}` })
  t.same(session, rest.json(), 'the mutation answers what GET /v1/sessions/:id answers')
  const got = await gql(acme, 'alice', `query ($id: ID!) { session(id: $id) { ${SESSION_FIELDS} } }`, { id: session.id })
  t.same(got.body.data?.session, rest.json())

  // a generation puts a clip on the timeline, so the state has something to compare
  const sent = await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] a city at night") { id sessionId status text } }', { id: session.id })
  t.notOk(sent.body.errors)
  t.match(sent.body.data?.sendMessage, { sessionId: session.id, status: 'running', text: '[scenario:generation] a city at night' })
  const busy = await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "again") { id } }', { id: session.id })
  t.equal(busy.body.errors?.[0]?.extensions.code, 'GW_ERR_TURN_IN_PROGRESS', 'one running turn per session, as in REST')
  t.equal(busy.body.errors?.[0]?.extensions.status, 409)
  t.equal(busy.body.errors?.[0]?.extensions.turnId, sent.body.data?.sendMessage.id)
  await settled(gw, acme, 'alice', session.id)

  const restState = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/state` })).json()
  const state = await gql(acme, 'alice', `query ($id: ID!) { session(id: $id) { state {
    summary exportable durationMs title width height canvas assets generatedMedia
    tracks { index kind segments { startMs durationMs label volume text src raw } } } } }`, { id: session.id })
  t.notOk(state.body.errors)
  const s = state.body.data?.session.state
  t.equal(s.summary, restState.summary)
  t.equal(s.exportable, restState.exportable)
  t.ok(s.tracks.length > 0, 'the generated clip is on the timeline')
  t.same(s.tracks, restState.timeline.tracks.map((tr: { segments: Array<Record<string, unknown>> }) => ({
    ...tr,
    segments: tr.segments.map(sg => ({ startMs: null, durationMs: null, label: null, volume: null, text: null, src: null, ...sg }))
  })), 'the same tracks as GET /state')
  t.equal(s.durationMs, restState.timeline.durationMs)
  t.same(s.canvas, restState.canvas)
  t.same(s.assets, restState.assets)

  const turns = await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { turns { items { id sessionId text status reply error startedAt finishedAt } nextCursor } } }', { id: session.id })
  const restTurns = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/turns` })).json()
  t.same(turns.body.data?.session.turns, restTurns, 'the same turns as GET /turns')

  const events = await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { lastEventCursor events(limit: 1000) { items { cursor sessionId turnId type payload createdAt } nextCursor } } }', { id: session.id })
  const restEvents = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/events?limit=1000` })).json()
  t.same(events.body.data?.session.events, restEvents, 'the same log as GET /events')
  t.equal(events.body.data?.session.lastEventCursor, restEvents.items.at(-1).cursor)

  // each "export" starts its own export: the answers agree but for the export's id
  const say = await gql(acme, 'alice', `mutation ($id: ID!) { say(sessionId: $id, text: "is it ready to export?") {
    action message ... on SayExport { exportable summary export { status quality } } } }`, { id: session.id })
  const restSay = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text: 'is it ready to export?' } })).json()
  const withoutId = (r: any) => ({ ...r, message: r.message.replace(/[0-9a-f-]{36}/g, 'ID'), export: { status: r.export.status, quality: r.export.quality } })
  t.same(withoutId(say.body.data?.say), withoutId(restSay), 'say routes and answers as POST /say does')
  const state2 = await gql(acme, 'alice', `mutation ($id: ID!) { say(sessionId: $id, text: "show me the tracks") {
    __typename action message ... on SayState { state { summary tracks { kind } } } } }`, { id: session.id })
  t.match(state2.body.data?.say, { __typename: 'SayState', action: 'state', message: s.summary, state: { summary: s.summary, tracks: [{ kind: 'video' }] } })
  const credits = await gql(acme, 'alice', `mutation ($id: ID!) { say(sessionId: $id, text: "how many credits are left") {
    __typename action ... on SayCredits { credits { available } } } }`, { id: session.id })
  t.match(credits.body.data?.say, { __typename: 'SayCredits', action: 'credits', credits: { available: Number } })

  const uploads = await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { uploads { items { id } nextCursor } } }', { id: session.id })
  t.same(uploads.body.data?.session.uploads, { items: [], nextCursor: null })
})

t.test('tenant isolation: another tenant\'s or user\'s session is GW_ERR_NOT_FOUND, with no data', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  const globex = await gw.tenant('globex')
  const theirs = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'secret' } })).json()

  for (const [tenant, user] of [[globex, 'alice'], [acme, 'bob']] as const) {
    const res = await gql(tenant, user, `query ($id: ID!) { session(id: $id) { ${SESSION_FIELDS} state { summary } } }`, { id: theirs.id })
    t.equal(res.status, 200)
    t.same(res.body.data, { session: null })
    t.equal(res.body.errors?.length, 1)
    t.match(res.body.errors?.[0], { path: ['session'], extensions: { code: 'GW_ERR_NOT_FOUND', status: 404 } })
    t.notMatch(JSON.stringify(res.body), /secret|upstream/, 'nothing of the session leaks')

    const send = await gql(tenant, user, 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "hi") { id } }', { id: theirs.id })
    t.equal(send.status, 404)
    t.equal(send.body.data, null)
    t.equal(send.body.errors?.[0]?.extensions.code, 'GW_ERR_NOT_FOUND')
  }
  const turns = await gw.app.prisma.turn.count({ where: { sessionId: theirs.id } })
  t.equal(turns, 0, 'no turn was started on someone else\'s session')
})

t.test('credentials: a bad key is GW_ERR_UNAUTHORIZED, a missing user id GW_ERR_VALIDATION', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')

  const bad = await gw.app.inject({
    method: 'POST',
    url: '/graphql',
    headers: { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' },
    payload: { query: '{ viewer { id } }' }
  })
  t.equal(bad.statusCode, 401)
  t.match(bad.headers['www-authenticate'], /Bearer/)
  const body = bad.json()
  t.notOk('data' in body, 'refused before it ran: no data')
  t.match(body.errors, [{ extensions: { code: 'GW_ERR_UNAUTHORIZED', status: 401 } }])
  t.notMatch(bad.body, /stack|at .*\.ts/)

  const none = await gw.app.inject({ method: 'POST', url: '/graphql', payload: { query: '{ viewer { id } }' } })
  t.equal(none.statusCode, 401)
  t.equal(none.json().errors[0].extensions.code, 'GW_ERR_UNAUTHORIZED')

  const noUser = await gw.app.inject({ method: 'POST', url: '/graphql', headers: { authorization: `Bearer ${acme.key}` }, payload: { query: '{ viewer { id } }' } })
  t.equal(noUser.statusCode, 400)
  t.equal(noUser.json().errors[0].extensions.code, 'GW_ERR_VALIDATION')

  const get = await acme.as('alice', { method: 'GET', url: '/graphql?query=' + encodeURIComponent('{ viewer { id } }') })
  t.same(get.json(), { data: { viewer: { id: 'alice' } } }, 'queries over GET use the same headers')
  t.ok(get.headers['ratelimit-remaining'], 'the API key\'s rate limit applies')
  const mutation = await acme.as('alice', { method: 'GET', url: '/graphql?query=' + encodeURIComponent('mutation { createSession { id } }') })
  t.equal(mutation.statusCode, 405)
  t.equal(mutation.json().errors[0].extensions.code, 'GW_ERR_METHOD_NOT_ALLOWED')
})

t.test('invalid documents and arguments are GW_ERR_VALIDATION', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')

  // GraphQL over HTTP: a 400 to a client that asks for application/graphql-response+json, a 200
  // (a GraphQL response all the same) to one that reads only application/json
  const unknown = await gql(acme, 'alice', '{ viewer { password } }', undefined, GRAPHQL_RESPONSE)
  t.equal(unknown.status, 400)
  t.match(unknown.headers['content-type'], /^application\/graphql-response\+json/)
  t.match(unknown.body.errors, [{ message: /password/, extensions: { code: 'GW_ERR_VALIDATION', status: 400 } }])
  t.notOk('data' in unknown.body)
  const asJson = await gql(acme, 'alice', '{ viewer { password } }')
  t.equal(asJson.status, 200)
  t.match(asJson.headers['content-type'], /^application\/json/)
  t.same(asJson.body, unknown.body, 'the same body either way')
  const syntax = await gql(acme, 'alice', '{ viewer { ', undefined, GRAPHQL_RESPONSE)
  t.equal(syntax.status, 400)
  t.equal(syntax.body.errors?.[0]?.extensions.code, 'GW_ERR_VALIDATION')
  t.equal((await gql(acme, 'alice', '{ viewer { ')).status, 200)
  const coercion = await gql(acme, 'alice', 'query ($n: Int) { viewer { sessions(first: $n) { items { id } } } }', { n: 'many' }, GRAPHQL_RESPONSE)
  t.equal(coercion.status, 400, 'variables that do not coerce')
  t.match(coercion.body.errors, [{ message: /\$n/, extensions: { code: 'GW_ERR_VALIDATION' } }])

  const notUuid = await gql(acme, 'alice', '{ session(id: "42") { id } }')
  t.match(notUuid.body.errors, [{ extensions: { code: 'GW_ERR_VALIDATION', errors: [{ in: 'arguments', path: '/id' }] } }])
  const page = await gql(acme, 'alice', '{ viewer { sessions(first: 500) { items { id } } } }')
  t.equal(page.body.errors?.[0]?.extensions.code, 'GW_ERR_VALIDATION', 'page sizes have the REST limits')
  const lang = await gql(acme, 'alice', 'mutation { createSession(language: "not a language") { id } }')
  t.equal(lang.body.errors?.[0]?.extensions.code, 'GW_ERR_VALIDATION', 'and so do session options')
  t.equal(await gw.app.prisma.session.count(), 0)
})

t.test('an internal error leaves as GW_ERR_INTERNAL with no detail, beside the data that resolved', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  gw.app.domain.sessions.get = async () => { throw new Error('connect ECONNREFUSED db.internal:5432 password=hunter2') }
  const res = await gql(acme, 'alice', '{ viewer { id } session(id: "7c9e6679-7425-40de-944b-e07fc1f90ae7") { id } }')
  t.equal(res.status, 200, 'the operation ran')
  t.same(res.body.data, { viewer: { id: 'alice' }, session: null })
  t.same(res.body.errors, [{ message: 'Internal error', locations: [{ line: 1, column: 17 }], path: ['session'], extensions: { code: 'GW_ERR_INTERNAL', status: 500 } }])

  gw.app.domain.credits.get = gw.app.domain.sessions.get as never
  const whole = await gql(acme, 'alice', '{ viewer { credits { available } } }')
  t.equal(whole.status, 500, 'with no data left at all, the status REST would answer')
  t.same(whole.body.data, null)
  t.equal(whole.body.errors?.[0]?.extensions.code, 'GW_ERR_INTERNAL')
  t.notMatch(JSON.stringify([res.body, whole.body]), /hunter2|ECONNREFUSED|stack/)
  t.ok(gw.logs.some(line => line.includes('ECONNREFUSED')), 'the operator still sees the cause in the log')
})

t.test('depth and cost limits refuse an operation before it runs', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  for (let i = 0; i < 3; i++) await acme.as('alice', { method: 'POST', url: '/v1/sessions' })
  const statesBefore = (await gw.sim.counters()).requests.state ?? 0

  const expensive = await gql(acme, 'alice', '{ viewer { sessions(first: 100) { items { id state { summary } } } } }', undefined, GRAPHQL_RESPONSE)
  t.equal(expensive.status, 400)
  t.notOk('data' in expensive.body)
  const [err] = expensive.body.errors ?? []
  t.match(err, { message: new RegExp(`costs \\d+; the limit is ${MAX_COST}`), extensions: { code: 'GW_ERR_VALIDATION', status: 400, limit: 'cost', maxCost: MAX_COST } })
  t.ok(err!.extensions.cost > MAX_COST)
  t.equal((await gw.sim.counters()).requests.state ?? 0, statesBefore, 'no upstream call was made')

  const query = 'query ($n: Int) { viewer { sessions(first: $n) { items { id state { summary } } } } }'
  const small = await gql(acme, 'alice', query, { n: 3 })
  t.notOk(small.body.errors, 'the same document with a small page is fine')
  t.equal(small.body.data?.viewer.sessions.items.length, 3)
  const large = await gql(acme, 'alice', query, { n: 100 })
  t.equal(large.body.errors?.[0]?.extensions.limit, 'cost', 'the page size is read from the variables')

  let deep = 'name'
  for (let i = 0; i < 20; i++) deep = `ofType { ${deep} }`
  const tooDeep = await gql(acme, 'alice', `{ __type(name: "Session") { fields { type { ${deep} } } } }`)
  t.equal(tooDeep.status, 200, 'a limit is a validation error: 200 to an application/json client')
  t.match(tooDeep.body.errors, [{ message: /nested \d+ levels deep/, extensions: { code: 'GW_ERR_VALIDATION', limit: 'depth' } }])

  const introspection = await gql(acme, 'alice', getIntrospectionQuery())
  t.notOk(introspection.body.errors, 'GraphiQL\'s introspection query passes')
  t.ok(introspection.body.data?.__schema.types.some((ty: { name: string }) => ty.name === 'SessionEvent'))
})

t.test('every field selection counts toward the cost: 50,000 __typename aliases are refused before they run', async (t) => {
  // 50,000 aliases are 700 KB: over the default document size limit, which would refuse first
  const gw = await buildGateway(t, { sim: SIM, config: { GRAPHQL_MAX_DOCUMENT_BYTES: 1024 * 1024 } })
  const acme = await gw.tenant('acme')
  const aliases = Array.from({ length: 50_000 }, (_, i) => `a${i}: __typename`).join(' ')
  const began = Date.now()
  const res = await gql(acme, 'alice', `{ ${aliases} }`, undefined, GRAPHQL_RESPONSE)
  t.equal(res.status, 400)
  t.notOk('data' in res.body, 'nothing ran')
  t.match(res.body.errors?.[0], { extensions: { code: 'GW_ERR_VALIDATION', limit: 'cost', cost: 50_000, maxCost: MAX_COST } })
  t.comment(`refused in ${Date.now() - began} ms`)
  const scalars = Array.from({ length: MAX_COST + 1 }, (_, i) => `b${i}: id`).join(' ')
  const many = await gql(acme, 'alice', `{ viewer { ${scalars} } }`)
  t.equal(many.body.errors?.[0]?.extensions.limit, 'cost', 'scalar fields count too')
  const fine = await gql(acme, 'alice', '{ __typename viewer { id __typename } }')
  t.notOk(fine.body.errors, 'an ordinary query passes')
})

t.test('a subscription sent over HTTP is a 400 that names the WebSocket', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await gql(acme, 'alice', 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor type } }', { id: session.id })
  t.equal(res.status, 400)
  t.notOk('data' in res.body)
  t.match(res.body.errors?.[0], { message: /WebSocket/, extensions: { code: 'GW_ERR_BAD_REQUEST', status: 400 } })
  const named = await gql(acme, 'alice', 'query Q { viewer { id } } subscription S { sessionEvents(sessionId: "x") { cursor } }', undefined, GRAPHQL_RESPONSE)
  t.equal(named.status, 400, 'a document with several operations and no name is refused as GraphQL would')
  const get = await acme.as('alice', { method: 'GET', url: `/graphql?query=${encodeURIComponent('subscription { sessionEvents(sessionId: "x") { cursor } }')}` })
  t.equal(get.statusCode, 405, 'over GET, only queries are allowed')
  t.match(get.json().errors?.[0], { message: /WebSocket/, extensions: { code: 'GW_ERR_METHOD_NOT_ALLOWED' } })
})

t.test('GraphiQL is served only when GRAPHIQL is set', async (t) => {
  const off = await buildGateway(t, { sim: SIM })
  t.equal((await off.app.inject({ method: 'GET', url: '/graphiql' })).statusCode, 404)
  const on = await buildGateway(t, { sim: SIM, config: { GRAPHIQL: true } })
  const page = await on.app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(page.statusCode, 200)
  t.match(page.headers['content-type'], /text\/html/)
})
