// Many GraphQL subscribers on one session while a turn runs: each gets the whole log once, in
// order, while the gateway follows the session once for all of them (they sent the same
// document and variables as the same user: one shared execution) and reads the log once per
// wake-up; when they leave, the tail goes too.
import t from 'tap'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway } from '../helpers/app.ts'
import { gql, settled, until } from './helpers.ts'

const SUBSCRIPTION = 'subscription ($id: ID!, $after: String) { sessionEvents(sessionId: $id, after: $after) { cursor type } }'
const SUBSCRIBERS = 25

t.test('25 subscribers of one session share its log reads and each get every event once, in order', async (t) => {
  const gw = await buildGateway(t, {
    sim: { stepDelayMs: 5, generationMs: 400, heartbeatIntervalMs: 20 },
    // every upstream heartbeat becomes an event: many wake-ups in one turn
    config: { HEARTBEAT_EVENT_INTERVAL_MS: 0 }
  })
  const acme = await gw.tenant('acme')
  const url = (await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  const sessionId = (await gql(acme, 'alice', 'mutation { createSession(title: "crowd") { id } }')).body.data!.createSession.id as string
  const events = gw.app.domain.events
  let reads = 0
  const list = events.list.bind(events)
  events.list = async (...args) => { reads++; return await list(...args) }
  let following = 0
  const follow = events.follow.bind(events)
  events.follow = async function * (...args) {
    following++
    yield * follow(...args)
  }

  const received = Array.from({ length: SUBSCRIBERS }, () => [] as Array<{ cursor: string, type: string }>)
  const done = received.map(async (seen) => {
    const c = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }, retryAttempts: 0 })
    t.teardown(async () => { await c.dispose() })
    for await (const result of c.iterate<{ sessionEvents: { cursor: string, type: string } }>({ query: SUBSCRIPTION, variables: { id: sessionId } })) {
      const e = result.data!.sessionEvents
      seen.push(e)
      if (e.type === 'turn.completed' || e.type === 'turn.failed') break
    }
  })
  await until(() => gw.app.graphqlShares.subscribers === SUBSCRIBERS && following === 1, 'the subscriptions to start')
  t.equal(gw.app.graphqlShares.executions, 1, 'one execution serves them all')
  await new Promise(resolve => setTimeout(resolve, 200))
  const readsBefore = reads

  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] a crowd") { id } }', { id: sessionId })
  await Promise.all(done)
  const log = (await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { events(limit: 1000) { items { cursor type } } } }', { id: sessionId })).body.data!.session.events.items
  t.ok(log.filter((e: { type: string }) => e.type === 'heartbeat').length >= 5, 'the turn logged many events')
  for (const seen of received) t.same(seen, log, 'the whole log, once, in order')

  const turnReads = reads - readsBefore
  t.ok(turnReads <= log.length * 2, `the log was read per wake-up, not per subscriber (${turnReads} reads for ${log.length} events and ${SUBSCRIBERS} subscribers)`)
  await until(() => events.followedSessions === 0, 'the tail to go once every subscriber left')
  await settled(gw, acme, 'alice', sessionId)
})
