// The WebSocket at /graphql as graphql-transport-ws (graphql-ws's PROTOCOL.md) says: the real
// graphql-ws client runs queries, mutations and subscriptions over it, and every protocol
// error closes the socket with the protocol's own code (CloseCode, from graphql-ws itself).
// The codes a well-behaved client never provokes are provoked with a raw socket.
import t, { type Test } from 'tap'
import { CloseCode, createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'
import { gql, until } from './helpers.ts'

const SUBSCRIPTION = 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor type } }'

interface Closed { code: number, reason: string }
const closeOf = (e: unknown): Closed => ({ code: (e as Closed).code, reason: (e as Closed).reason })

async function listen (gw: TestGateway): Promise<string> {
  return (await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
}

function as (tenant: TestTenant, userId: string): Record<string, string> {
  return { authorization: `Bearer ${tenant.key}`, 'x-user-id': userId }
}

function client (t: Test, url: string, connectionParams: Record<string, unknown>, more: Partial<Parameters<typeof createClient>[0]> = {}): Client {
  const c = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true, ...more })
  t.teardown(async () => { await c.dispose() })
  return c
}

/** One operation through the client: its results, or what it raised. */
async function run (c: Client, query: string, variables: Record<string, unknown> = {}): Promise<{ results: any[], error?: any }> {
  const results: any[] = []
  return await new Promise((resolve) => {
    c.subscribe({ query, variables }, {
      next: (r) => results.push(r),
      error: (error) => resolve({ results, error }),
      complete: () => resolve({ results })
    })
  })
}

interface Raw {
  messages: any[]
  send: (message: unknown) => void
  closed: Promise<Closed>
  /** The subprotocol the server chose ('' for none), or the handshake's error. */
  opened: Promise<string | Error>
}

function raw (t: Test, url: string, protocols: string[] = ['graphql-transport-ws']): Raw {
  const socket = new WebSocket(url, protocols)
  t.teardown(() => { socket.terminate() })
  const messages: any[] = []
  socket.on('message', (data) => messages.push(JSON.parse(data.toString())))
  socket.on('error', () => {})
  return {
    messages,
    send: (m) => socket.send(typeof m === 'string' ? m : JSON.stringify(m)),
    closed: new Promise((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))),
    opened: new Promise((resolve) => {
      socket.once('open', () => resolve(socket.protocol))
      socket.once('error', (err) => resolve(err))
    })
  }
}

/** A raw socket acknowledged as `tenant`'s alice. */
async function acknowledged (t: Test, url: string, tenant: TestTenant): Promise<Raw> {
  const r = raw(t, url)
  await r.opened
  r.send({ type: 'connection_init', payload: as(tenant, 'alice') })
  await until(() => r.messages.some(m => m.type === 'connection_ack'), 'connection_ack')
  return r
}

t.test('graphql-ws runs queries and mutations over the socket, with catalog codes on errors', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const url = await listen(gw)
  const pongs: boolean[] = []
  const c = client(t, url, as(acme, 'alice'), { keepAlive: 50, on: { pong: (received: boolean) => pongs.push(received) } })

  const created = await run(c, 'mutation { createSession(title: "over the socket") { id title } }')
  t.notOk(created.error)
  const session = created.results[0]?.data?.createSession
  t.equal(session?.title, 'over the socket', 'a mutation')
  const rest = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${String(session?.id)}` })
  t.equal(rest.statusCode, 200, 'and REST sees what it made')

  const viewer = await run(c, '{ viewer { id sessions { items { title } } } }')
  t.same(viewer.results, [{ data: { viewer: { id: 'alice', sessions: { items: [{ title: 'over the socket' }] } } } }], 'a query')

  const missing = await run(c, 'query ($id: ID!) { session(id: $id) { id } }', { id: '7c9e6679-7425-40de-944b-e07fc1f90ae7' })
  t.match(missing.results, [{ data: { session: null }, errors: [{ path: ['session'], extensions: { code: 'GW_ERR_NOT_FOUND', status: 404 } }] }], 'a field error beside its data')
  const invalid = await run(c, '{ viewer { password } }')
  t.match(invalid.error, [{ message: /password/, extensions: { code: 'GW_ERR_VALIDATION' } }], 'a document that does not validate: an error message with its code')
  const coercion = await run(c, 'query ($n: Int) { viewer { sessions(first: $n) { items { id } } } }', { n: 'many' })
  t.match(coercion.error, [{ message: /\$n/, extensions: { code: 'GW_ERR_VALIDATION' } }], 'variables that do not coerce')
  const unnamed = await run(c, 'query A { viewer { id } } query B { viewer { id } }')
  t.match(unnamed.error, [{ extensions: { code: 'GW_ERR_VALIDATION' } }], 'several operations and no name')
  const costly = await run(c, '{ viewer { sessions(first: 100) { items { id state { summary } } } } }')
  t.match(costly.error, [{ extensions: { code: 'GW_ERR_VALIDATION', limit: 'cost' } }], 'the cost limit holds over the socket')
  const fields = Array.from({ length: 150 }, (_, i) => `f${i}: id`).join(' ')
  const wide = await run(c, `{ viewer { ${fields} } }`)
  t.notOk(wide.error, 'a query is not held to the token bound of a subscription (it is not kept)')

  await until(() => pongs.includes(true), 'a pong for the client\'s ping')
  t.pass('ping is answered with pong')
})

t.test('a query or mutation over the socket counts toward the key\'s rate limit, as over HTTP', async (t) => {
  const gw = await buildGateway(t, { config: { RATE_LIMIT_MAX: 3, RATE_LIMIT_WINDOW_MS: 60_000 } })
  const acme = await gw.tenant('acme')
  // one connection throughout (a lazy client would open one per operation, each upgrade a request)
  const c = client(t, await listen(gw), as(acme, 'alice'), { lazy: false })
  const answers = []
  for (let i = 0; i < 4; i++) answers.push(await run(c, '{ viewer { id } }'))
  t.same(answers.slice(0, 3).map(a => a.results), Array(3).fill([{ data: { viewer: { id: 'alice' } } }]))
  t.match(answers[3]!.error, [{ extensions: { code: 'GW_ERR_RATE_LIMITED', status: 429, limit: 3, retryAfter: Number } }], 'the fourth is refused with its code')
})

t.test('the protocol\'s close codes', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const url = await listen(gw)
  const session = (await gql(acme, 'alice', 'mutation { createSession(title: "s") { id } }')).body.data!.createSession.id as string
  // it takes 10 s to be closed: it waits while the rest runs
  const silent = raw(t, url)

  t.test('4403 Forbidden: bad credentials in connection_init (graphql-ws)', async (t) => {
    const closed = new Promise<Closed>((resolve) => {
      const c = client(t, url, { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' }, { on: { closed: (e) => resolve(closeOf(e)) } })
      run(c, '{ viewer { id } }').catch(() => {})
    })
    t.match(await closed, { code: CloseCode.Forbidden, reason: /^Forbidden: GW_ERR_UNAUTHORIZED/ })
  })

  t.test('4409 Subscriber already exists: a second subscribe with a running id (graphql-ws)', async (t) => {
    const closed = new Promise<Closed>((resolve) => {
      const c = client(t, url, as(acme, 'alice'), { generateID: () => 'the-same-id', on: { closed: (e) => resolve(closeOf(e)) } })
      c.subscribe({ query: SUBSCRIPTION, variables: { id: session } }, { next: () => {}, error: () => {}, complete: () => {} })
      c.subscribe({ query: SUBSCRIPTION, variables: { id: session } }, { next: () => {}, error: () => {}, complete: () => {} })
    })
    t.same(await closed, { code: CloseCode.SubscriberAlreadyExists, reason: 'Subscriber for the-same-id already exists' })
  })

  t.test('4400 Bad request: not JSON, an unknown type, a legacy message, a malformed subscribe', async (t) => {
    const bad: Array<[string, unknown]> = [
      ['not JSON', '{"type":'],
      ['no type', { id: '1' }],
      ['an unknown type', { type: 'hello' }],
      ['the legacy start', { type: 'start', id: '1', payload: { query: '{ viewer { id } }' } }],
      ['the legacy connection_terminate', { type: 'connection_terminate' }],
      ['a server message', { type: 'next', id: '1', payload: {} }],
      ['a subscribe without an id', { type: 'subscribe', payload: { query: '{ viewer { id } }' } }],
      ['a subscribe without a query', { type: 'subscribe', id: '1', payload: {} }],
      ['a complete without an id', { type: 'complete' }]
    ]
    for (const [what, message] of bad) {
      const r = await acknowledged(t, url, acme)
      r.send(message)
      t.match(await r.closed, { code: CloseCode.BadRequest, reason: /^Invalid message received/ }, what)
    }
    // before connection_init too
    const early = raw(t, url)
    await early.opened
    early.send('not json at all')
    t.equal((await early.closed).code, CloseCode.BadRequest, 'before connection_init')
  })

  t.test('4401 Unauthorized: subscribe before the connection is acknowledged', async (t) => {
    const r = raw(t, url)
    await r.opened
    r.send({ type: 'subscribe', id: '1', payload: { query: SUBSCRIPTION, variables: { id: session } } })
    t.same(await r.closed, { code: CloseCode.Unauthorized, reason: 'Unauthorized' })
    t.same(r.messages, [], 'no legacy connection_error message')
  })

  t.test('4429 Too many initialisation requests: a second connection_init', async (t) => {
    const r = await acknowledged(t, url, acme)
    r.send({ type: 'connection_init', payload: as(acme, 'alice') })
    t.same(await r.closed, { code: CloseCode.TooManyInitialisationRequests, reason: 'Too many initialisation requests' })
    t.equal(r.messages.filter(m => m.type === 'connection_ack').length, 1, 'acknowledged once')
  })

  t.test('4406 Subprotocol not acceptable: none, or another (the legacy graphql-ws included)', async (t) => {
    const none = raw(t, url, [])
    t.equal(await none.opened, '', 'no subprotocol chosen')
    t.same(await none.closed, { code: CloseCode.SubprotocolNotAcceptable, reason: 'Subprotocol not acceptable: use graphql-transport-ws' })
    for (const protocol of ['graphql-ws', 'something-else']) {
      const other = raw(t, url, [protocol])
      // the server does not choose it, so the client itself refuses the connection
      t.match(await other.opened, { message: /no subprotocol/ }, `${protocol} is not echoed`)
    }
    const offered = raw(t, url, ['graphql-ws', 'graphql-transport-ws'])
    t.equal(await offered.opened, 'graphql-transport-ws', 'offered among others, graphql-transport-ws is chosen')
  })

  t.test('4408 Connection initialisation timeout: no connection_init within 10 s', async (t) => {
    t.same(await silent.closed, { code: CloseCode.ConnectionInitialisationTimeout, reason: 'Connection initialisation timeout' })
  })
})
