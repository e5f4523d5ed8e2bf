// GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION and GRAPHQL_MAX_CONNECTIONS_PER_KEY, spoken as a
// raw graphql-transport-ws client would: a burst of subscribe messages on one socket, more
// sockets than a key may hold. A refused subscription gets an `error` for its id and the
// connection goes on; a refused connection is closed with 4429; both are counted.
import t, { type Test } from 'tap'
import WebSocket from 'ws'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'
import { gql, until } from './helpers.ts'

const SUBSCRIPTION = 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor type } }'
const MAX_SUBSCRIPTIONS = 3
const MAX_CONNECTIONS = 2

interface Message { type: string, id?: string, payload?: any }

interface RawClient {
  messages: Message[]
  send: (message: Message) => void
  closed: Promise<{ code: number, reason: string }>
  close: () => void
}

/** A graphql-transport-ws connection; resolves once acknowledged (or closed by the server). */
async function connect (t: Test, url: string, tenant: TestTenant, userId = 'alice'): Promise<RawClient> {
  const socket = new WebSocket(url, 'graphql-transport-ws')
  t.teardown(() => { socket.terminate() })
  const messages: Message[] = []
  const closed = new Promise<{ code: number, reason: string }>((resolve) => {
    socket.on('close', (code, reason) => resolve({ code, reason: reason.toString() }))
  })
  socket.on('message', (data) => { messages.push(JSON.parse(data.toString())) })
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
  socket.send(JSON.stringify({ type: 'connection_init', payload: { authorization: `Bearer ${tenant.key}`, 'x-user-id': userId } }))
  await Promise.race([until(() => messages.some(m => m.type === 'connection_ack'), 'connection_ack'), closed])
  return { messages, send: (m) => socket.send(JSON.stringify(m)), closed, close: () => socket.close() }
}

/**
 * The subscriptions running on the gateway (those of one document and variables share one
 * execution and one follower of the session, so followers are not counted here).
 */
function countFollowers (gw: TestGateway): () => number {
  return () => gw.app.graphqlShares.subscribers
}

const errorsOf = (c: RawClient) => c.messages.filter(m => m.type === 'error')

t.test('subscriptions per connection and connections per key are bounded', async (t) => {
  const gw = await buildGateway(t, { config: { GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION: MAX_SUBSCRIPTIONS, GRAPHQL_MAX_CONNECTIONS_PER_KEY: MAX_CONNECTIONS } })
  const acme = await gw.tenant('acme')
  const globex = await gw.tenant('globex')
  const session = (await gql(acme, 'alice', 'mutation { createSession(title: "s") { id } }')).body.data!.createSession.id as string
  const url = (await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  const followers = countFollowers(gw)
  const subscribe = (c: RawClient, id: string) => c.send({ id, type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: session } } })

  t.test('a burst of 50 subscribe messages on one socket: 3 run, 47 get an error for their id', async (t) => {
    const c = await connect(t, url, acme)
    for (let i = 0; i < 50; i++) subscribe(c, `s${i}`)
    await until(() => errorsOf(c).length === 50 - MAX_SUBSCRIPTIONS && followers() === MAX_SUBSCRIPTIONS, 'the refusals and the running subscriptions')
    const refused = errorsOf(c)
    t.same(new Set(refused.map(m => m.id)).size, 50 - MAX_SUBSCRIPTIONS, 'one error per refused id')
    t.match(refused[0]!.payload, [{
      message: `This connection already runs ${MAX_SUBSCRIPTIONS} subscriptions, the most one connection may; complete one first`,
      extensions: { code: 'GW_ERR_TOO_MANY_SUBSCRIPTIONS', status: 429, limit: 'subscriptionsPerConnection', maxSubscriptions: MAX_SUBSCRIPTIONS }
    }])
    await new Promise(resolve => setTimeout(resolve, 100))
    t.equal(followers(), MAX_SUBSCRIPTIONS, 'never more than the bound')

    // completing one frees its place; the connection is still open
    const running = ['s0', 's1', 's2', ...Array.from({ length: 50 }, (_, i) => `s${i}`)].find(id => !refused.some(m => m.id === id))!
    c.send({ id: running, type: 'complete' })
    await until(() => followers() === MAX_SUBSCRIPTIONS - 1, 'the completed subscription to end')
    subscribe(c, 'again')
    await until(() => followers() === MAX_SUBSCRIPTIONS, 'a new subscription in the freed place')
    t.notOk(errorsOf(c).some(m => m.id === 'again'))
    c.close()
    await c.closed
    await until(() => followers() === 0, 'the connection\'s subscriptions to end with it')
  })

  t.test('a subscription that fails to start gives its place back', async (t) => {
    const c = await connect(t, url, acme)
    // one after another: more failures than the bound, each in a place the last one gave back
    for (let i = 0; i < 10; i++) {
      c.send({ id: `bad${i}`, type: 'subscribe', payload: { query: SUBSCRIPTION, variables: { id: '00000000-0000-0000-0000-000000000000' } } })
      await until(() => errorsOf(c).length === i + 1, `not-found error ${i + 1}`)
    }
    t.same(errorsOf(c).map(m => m.payload[0].extensions.code), Array(10).fill('GW_ERR_NOT_FOUND'))
    for (let i = 0; i < MAX_SUBSCRIPTIONS; i++) subscribe(c, `good${i}`)
    await until(() => followers() === MAX_SUBSCRIPTIONS, 'as many subscriptions as the bound')
    t.equal(errorsOf(c).length, 10, 'none of them refused')
    c.close()
    await until(() => followers() === 0, 'the subscriptions to end')
  })

  t.test('a document a running subscription would keep is bounded in tokens; a syntax error has its code', async (t) => {
    const c = await connect(t, url, acme)
    const fields = Array.from({ length: 150 }, (_, i) => `f${i}: cursor`).join(' ')
    c.send({ id: 'heavy', type: 'subscribe', payload: { query: `subscription ($id: ID!) { sessionEvents(sessionId: $id) { ${fields} } }`, variables: { id: session } } })
    c.send({ id: 'broken', type: 'subscribe', payload: { query: 'subscription { sessionEvents(', variables: {} } })
    await until(() => errorsOf(c).length === 2, 'two errors')
    t.match(errorsOf(c).find(m => m.id === 'heavy')?.payload, [{ extensions: { code: 'GW_ERR_PAYLOAD_TOO_LARGE', status: 413, limit: 'subscriptionTokens', maxTokens: 300 } }])
    t.match(errorsOf(c).find(m => m.id === 'broken')?.payload, [{ message: /^Syntax Error/, extensions: { code: 'GW_ERR_VALIDATION' } }])
    t.equal(followers(), 0)
    c.close()
  })

  t.test('a second subscribe with a running id closes the connection with 4409', async (t) => {
    const c = await connect(t, url, acme)
    subscribe(c, 'twice')
    await until(() => followers() === 1, 'the first subscription')
    subscribe(c, 'twice')
    t.match(await c.closed, { code: 4409, reason: 'Subscriber for twice already exists' })
    await until(() => followers() === 0, 'nothing left running')
  })

  t.test(`a key holds ${MAX_CONNECTIONS} connections; one more is closed with 4429`, async (t) => {
    const held = [await connect(t, url, acme, 'alice'), await connect(t, url, acme, 'bob')]
    const extra = await connect(t, url, acme, 'carol')
    t.match(await extra.closed, { code: 4429, reason: /^Too many connections: GW_ERR_TOO_MANY_CONNECTIONS/ })
    t.notOk(extra.messages.some(m => m.type === 'connection_ack'), 'never acknowledged')
    // another tenant's key is not affected
    const other = await connect(t, url, globex)
    t.ok(other.messages.some(m => m.type === 'connection_ack'))
    // a closed connection gives its place back
    held[0]!.close()
    await held[0]!.closed
    const next = await connect(t, url, acme, 'carol')
    t.ok(next.messages.some(m => m.type === 'connection_ack'), 'a place was freed')
  })

  t.test('refusals are counted', async (t) => {
    const metrics = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
    t.match(metrics, /gateway_graphql_refusals_total\{reason="subscriptions_per_connection"[^}]*\} 47\b/)
    t.match(metrics, /gateway_graphql_refusals_total\{reason="connections_per_key"[^}]*\} 1\b/)
    t.match(metrics, /gateway_graphql_refusals_total\{reason="document_size"[^}]*\} 1\b/, 'the token bound counts as a document size refusal')
  })
})
