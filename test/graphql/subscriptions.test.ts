import t, { type Test } from 'tap'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'
import { gql, settled, until } from './helpers.ts'

const SIM = { stepDelayMs: 5, generationMs: 50, heartbeatIntervalMs: 10 }
const SUBSCRIPTION = 'subscription ($id: ID!, $after: String) { sessionEvents(sessionId: $id, after: $after) { cursor sessionId turnId type payload createdAt } }'

interface Event { cursor: string, sessionId: string, turnId: string | null, type: string, payload: Record<string, unknown>, createdAt: string }

async function listen (t: Test, gw: TestGateway): Promise<string> {
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  t.ok(address)
  return address.replace(/^http/, 'ws') + '/graphql'
}

function client (t: Test, url: string, connectionParams: Record<string, unknown>, on: Record<string, (...args: any[]) => void> = {}): Client {
  const c = createClient({ url, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: true, on })
  t.teardown(async () => { await c.dispose() })
  return c
}

function as (tenant: TestTenant, userId: string): Record<string, string> {
  return { authorization: `Bearer ${tenant.key}`, 'x-user-id': userId }
}

/**
 * Subscribes and collects events until `stop` says so, then completes the subscription (or,
 * with `stay`, keeps it open for the caller to drop the connection); resolves with the events.
 */
function collect (c: Client, variables: Record<string, unknown>, stop: (e: Event, all: Event[]) => boolean, stay = false): { done: Promise<Event[]>, events: Event[], cancel: () => void } {
  const events: Event[] = []
  let cancel = () => {}
  const done = new Promise<Event[]>((resolve, reject) => {
    cancel = c.subscribe<{ sessionEvents: Event }>({ query: SUBSCRIPTION, variables }, {
      next: (result) => {
        if (result.errors) return reject(new Error(JSON.stringify(result.errors)))
        const e = result.data!.sessionEvents
        events.push(e)
        if (stop(e, events)) {
          if (!stay) cancel()
          resolve(events)
        }
      },
      error: reject,
      complete: () => resolve(events)
    })
  })
  return { done, events, cancel: () => cancel() }
}

async function fullLog (tenant: TestTenant, userId: string, sessionId: string): Promise<Event[]> {
  const res = await gql(tenant, userId, 'query ($id: ID!) { session(id: $id) { events(limit: 1000) { items { cursor sessionId turnId type payload createdAt } } } }', { id: sessionId })
  return res.body.data!.session.events.items
}

async function newSession (tenant: TestTenant, userId: string): Promise<string> {
  const res = await gql(tenant, userId, 'mutation { createSession(title: "live") { id } }')
  return res.body.data!.createSession.id
}

/** Counts the session followers alive in the domain, to prove subscriptions release theirs. */
function countFollowers (gw: TestGateway): () => number {
  const events = gw.app.domain.events
  const original = events.follow.bind(events)
  let open = 0
  events.follow = async function * (...args: Parameters<typeof original>) {
    open++
    try {
      yield * original(...args)
    } finally {
      open--
    }
  }
  return () => open
}

/** Subscribes to a new session, sends one message, and collects the turn's events live. */
async function liveTurn (t: Test, gw: TestGateway, text: string) {
  const acme = await gw.tenant('acme')
  const url = await listen(t, gw)
  const followers = countFollowers(gw)
  const sessionId = await newSession(acme, 'alice')
  const c = client(t, url, as(acme, 'alice'))
  const live = collect(c, { id: sessionId }, (e) => e.type === 'turn.completed' || e.type === 'turn.failed')
  await until(() => followers() === 1, 'the subscription to start')
  const sent = await gql(acme, 'alice', 'mutation ($id: ID!, $text: String!) { sendMessage(sessionId: $id, text: $text) { id } }', { id: sessionId, text })
  const events = await live.done
  return { acme, sessionId, followers, events, turnId: sent.body.data!.sendMessage.id as string }
}

t.test('a turn sent with sendMessage arrives live: turn.started ... turn.completed', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const { acme, sessionId, followers, events, turnId } = await liveTurn(t, gw, '[scenario:generation] a city at night')

  t.equal(events[0]?.type, 'turn.started')
  t.equal(events.at(-1)?.type, 'turn.completed')
  t.ok(events.some(e => e.type === 'tool.started'), 'the generation tool call arrived')
  t.ok(events.every(e => e.sessionId === sessionId && e.turnId === turnId))
  t.same(events, await fullLog(acme, 'alice', sessionId), 'exactly the log, in order')

  await until(() => followers() === 0, 'the follower to be released after complete')
  await settled(gw, acme, 'alice', sessionId)
})

t.test('a subscriber that leaves mid-turn and resumes from its last cursor gets every event exactly once', async (t) => {
  const gw = await buildGateway(t, {
    sim: { ...SIM, generationMs: 400 },
    // every upstream heartbeat becomes an event, so the turn has many while the client is away
    config: { HEARTBEAT_EVENT_INTERVAL_MS: 0 }
  })
  const acme = await gw.tenant('acme')
  const url = await listen(t, gw)
  const followers = countFollowers(gw)
  const sessionId = await newSession(acme, 'alice')

  const first = client(t, url, as(acme, 'alice'))
  const before = collect(first, { id: sessionId }, (_e, all) => all.length === 4, true)
  await until(() => followers() === 1, 'the subscription to start')
  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] waves") { id } }', { id: sessionId })
  await before.done
  // the connection drops with the subscription still open: no `complete` is sent
  await first.dispose()
  const seen = before.events
  await until(() => followers() === 0, 'the follower to be released on disconnect')
  // the turn goes on without the client; wait for it to log something the client has not seen
  await until(async () => (await fullLog(acme, 'alice', sessionId)).length > seen.length, 'events while the client is away')
  t.notOk(seen.some(e => e.type === 'turn.completed'), 'it left mid-turn')

  const second = client(t, url, as(acme, 'alice'))
  const after = await collect(second, { id: sessionId, after: seen.at(-1)!.cursor }, (e) => e.type === 'turn.completed').done
  const log = await fullLog(acme, 'alice', sessionId)
  const received = [...seen, ...after]
  t.same(received.map(e => e.cursor), log.map(e => e.cursor), 'every event of the log, once, in order')
  t.equal(new Set(received.map(e => e.cursor)).size, received.length, 'no duplicates')
  t.same(received, log)

  await settled(gw, acme, 'alice', sessionId)
  await until(() => followers() === 0, 'no follower left')
})

t.test('bad credentials in connection_init close the socket with 4403', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  const url = await listen(t, gw)
  const sessionId = await newSession(acme, 'alice')

  const cases: Array<[string, Record<string, unknown>]> = [
    ['a wrong key', { authorization: 'Bearer ngw_nope_nope', 'x-user-id': 'alice' }],
    ['no key', { 'x-user-id': 'alice' }],
    ['no user id', { authorization: `Bearer ${acme.key}` }]
  ]
  for (const [what, params] of cases) {
    const closed = new Promise<{ code: number, reason: string }>((resolve) => {
      const c = client(t, url, params, { closed: (e: { code: number, reason: string }) => resolve(e) })
      c.subscribe({ query: SUBSCRIPTION, variables: { id: sessionId } }, { next: () => {}, error: () => {}, complete: () => {} })
    })
    const { code, reason } = await closed
    t.equal(code, 4403, what)
    t.match(reason, /^Forbidden: GW_ERR_/)
  }

  // the other accepted spellings authenticate too
  const followers = countFollowers(gw)
  const c = client(t, url, { Authorization: `Bearer ${acme.key}`, userId: 'alice' })
  const sub = collect(c, { id: sessionId }, () => true)
  await until(() => followers() === 1, 'the subscription to start')
  sub.cancel()
  await until(() => followers() === 0, 'the follower to be released')
})

t.test('a subscription checks the session, the document and its arguments', async (t) => {
  const gw = await buildGateway(t, { sim: SIM, config: { GRAPHQL_KEEPALIVE_MS: 100 } })
  const acme = await gw.tenant('acme')
  const globex = await gw.tenant('globex')
  const url = await listen(t, gw)
  const followers = countFollowers(gw)
  const theirs = await newSession(acme, 'alice')

  const pings: boolean[] = []
  const c = client(t, url, as(globex, 'alice'), { ping: (received: boolean) => pings.push(received) })
  const refuse = async (query: string, variables: Record<string, unknown>) => await new Promise<any>((resolve) => {
    c.subscribe({ query, variables }, { next: (r) => resolve(r), error: (err) => resolve(err), complete: () => resolve('complete') })
  })

  const notFound = await refuse(SUBSCRIPTION, { id: theirs })
  t.match(notFound, [{ extensions: { code: 'GW_ERR_NOT_FOUND', status: 404 } }], 'another tenant\'s session is not found')
  const badCursor = await refuse(SUBSCRIPTION, { id: theirs, after: 'yesterday' })
  t.match(badCursor, [{ extensions: { code: 'GW_ERR_VALIDATION' } }])
  const unknownField = await refuse('subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor password } }', { id: theirs })
  t.match(unknownField, [{ message: /password/, extensions: { code: 'GW_ERR_VALIDATION' } }], 'subscription documents are validated')
  t.equal(followers(), 0, 'nothing was followed')

  await until(() => pings.includes(true), 'a keep-alive ping from the server')
  t.pass('the server pings over graphql-transport-ws')
})

t.test('a subscription refused for a session the client may not see is logged at info, with readable fields', async (t) => {
  const gw = await buildGateway(t, { sim: SIM })
  const acme = await gw.tenant('acme')
  const globex = await gw.tenant('globex')
  const url = await listen(t, gw)
  const theirs = await newSession(acme, 'alice')
  const from = gw.logs.length

  const c = client(t, url, as(globex, 'alice'))
  const refused = await new Promise<unknown>((resolve) => {
    c.subscribe({ query: SUBSCRIPTION, variables: { id: theirs } }, { next: resolve, error: resolve, complete: () => resolve('complete') })
  })
  t.match(refused, [{ extensions: { code: 'GW_ERR_NOT_FOUND', status: 404 } }])
  const lines = gw.logs.slice(from).map(line => JSON.parse(line) as Record<string, unknown>)
  t.match(lines.find(l => l.code === 'GW_ERR_NOT_FOUND'), { level: 30, msg: 'graphql operation refused', detail: String }, 'at info, with its code and detail')
  t.notOk(lines.some(l => (l.level as number) >= 50), 'nothing at error')
  t.notOk(lines.some(l => '0' in l), 'no payload under a key "0"')
})

// Every upstream scenario, as a GraphQL client sees it: the same events as the REST stream.
const SCENARIOS: Array<{ text: string, sim?: Record<string, unknown>, expect: string[], last: 'turn.completed' | 'turn.failed' }> = [
  { text: '[scenario:text] hello', expect: ['text'], last: 'turn.completed' },
  { text: '[scenario:generation] a city', expect: ['tool.started', 'heartbeat', 'tool.finished', 'text', 'state.changed'], last: 'turn.completed' },
  { text: '[scenario:generation] a city', sim: { framing: 'typed', heartbeat: 'typed' }, expect: ['tool.started', 'heartbeat', 'text'], last: 'turn.completed' },
  { text: '[scenario:generation] a city', sim: { heartbeat: 'empty-data' }, expect: ['tool.started', 'heartbeat', 'text'], last: 'turn.completed' },
  { text: '[scenario:silent-edit] add a title', expect: ['tool.started', 'state.changed'], last: 'turn.completed' },
  { text: '[scenario:temporary-issue] hi', expect: ['text', 'notice'], last: 'turn.completed' },
  { text: '[scenario:disconnect] a city', expect: ['turn.recovering', 'state.changed'], last: 'turn.completed' },
  { text: '[scenario:error] hi', expect: ['upstream.error'], last: 'turn.failed' },
  { text: '[scenario:ask-question] make a video', expect: ['question'], last: 'turn.completed' }
]

for (const scenario of SCENARIOS) {
  t.test(`over graphql-ws: ${scenario.text}${scenario.sim ? ` ${JSON.stringify(scenario.sim)}` : ''}`, async (t) => {
    const gw = await buildGateway(t, { sim: { ...SIM, ...scenario.sim }, config: { TURN_RECOVERY_POLL_MS: 40, HEARTBEAT_EVENT_INTERVAL_MS: 0 } })
    const { acme, sessionId, events } = await liveTurn(t, gw, scenario.text)
    const types = events.map(e => e.type)
    for (const type of scenario.expect) t.ok(types.includes(type), `has ${type}`)
    t.equal(types.at(-1), scenario.last)
    t.same(events, await fullLog(acme, 'alice', sessionId), 'exactly the log, in order')
    await settled(gw, acme, 'alice', sessionId)
    t.equal((await gw.sim.counters()).openStreams, 0, 'the upstream stream was released')
  })
}
