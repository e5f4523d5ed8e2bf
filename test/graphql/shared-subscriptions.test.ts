// Subscribers that send the same document with the same variables, as the same end user, are
// served by one execution (one follower of the session, each event executed and serialised
// once); other variables, another user or another tenant start their own, and one subscriber
// leaving does not end the others'.
import t from 'tap'
import { createClient, type Client } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway, type TestTenant } from '../helpers/app.ts'
import { gql, settled, until } from './helpers.ts'

const SUBSCRIPTION = 'subscription ($id: ID!, $after: String) { sessionEvents(sessionId: $id, after: $after) { cursor type } }'

interface Event { cursor: string, type: string }

t.test('one execution serves the subscribers of one document and variables, and only the same user\'s', async (t) => {
  const gw = await buildGateway(t, { sim: { stepDelayMs: 5, generationMs: 200, heartbeatIntervalMs: 20 }, config: { HEARTBEAT_EVENT_INTERVAL_MS: 0 } })
  const acme = await gw.tenant('acme')
  const globex = await gw.tenant('globex')
  const url = (await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  const newSession = async (userId: string) => (await gql(acme, userId, 'mutation { createSession(title: "shared") { id } }')).body.data!.createSession.id as string
  const sessionId = await newSession('alice')
  const otherSessionId = await newSession('alice')

  const events = gw.app.domain.events
  let follows = 0
  const follow = events.follow.bind(events)
  events.follow = async function * (...args) {
    follows++
    yield * follow(...args)
  }
  const shares = gw.app.graphqlShares

  const client = (tenant: TestTenant, userId: string): Client => {
    const c = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${tenant.key}`, 'x-user-id': userId }, retryAttempts: 0 })
    t.teardown(async () => { await c.dispose() })
    return c
  }
  /** Subscribes; resolves with the events seen when `stop` says so (then completes), at the end, or rejects with the error. */
  const subscribe = (c: Client, variables: Record<string, unknown>, stop: (e: Event) => boolean = (e) => e.type === 'turn.completed' || e.type === 'turn.failed') => {
    const seen: Event[] = []
    let cancel = () => {}
    const done = new Promise<Event[]>((resolve, reject) => {
      cancel = c.subscribe<{ sessionEvents: Event }>({ query: SUBSCRIPTION, variables }, {
        next: (result) => {
          if (result.errors) { reject(new Error(JSON.stringify(result.errors))); return }
          seen.push(result.data!.sessionEvents)
          if (stop(result.data!.sessionEvents)) { cancel(); resolve(seen) }
        },
        error: (err) => { reject(err instanceof Error ? err : new Error(JSON.stringify(err))) },
        complete: () => { resolve(seen) }
      })
    })
    return { done, seen }
  }

  // three of alice's connections, the same document and variables: one execution
  const same = [0, 1, 2].map(() => subscribe(client(acme, 'alice'), { id: sessionId }))
  // the one that leaves after its first event, and one that stays after the turn
  const leaver = subscribe(client(acme, 'alice'), { id: sessionId }, () => true)
  const stayer = subscribe(client(acme, 'alice'), { id: sessionId }, () => false)
  await until(() => shares.subscribers === 5, 'alice\'s five subscriptions to start')
  t.equal(shares.executions, 1, 'five subscribers, one execution')
  t.equal(follows, 1, 'one follower of the session for the five')

  // other variables: their own execution
  const elsewhere = subscribe(client(acme, 'alice'), { id: otherSessionId }, () => true)
  await until(() => shares.subscribers === 6, 'the subscription of the other session to start')
  t.equal(shares.executions, 2, 'another session is another execution')

  // the same document and variables as another user, or another tenant: not alice's execution
  for (const [tenant, userId] of [[acme, 'bob'], [globex, 'alice']] as const) {
    const stranger = subscribe(client(tenant, userId), { id: sessionId })
    await t.rejects(stranger.done, /GW_ERR_SESSION_NOT_FOUND|not found/i, `${tenant === acme ? 'another user' : 'another tenant'} is told the session does not exist`)
    t.same(stranger.seen, [], 'and sees none of its events')
  }
  // alice herself, with a credential that lacks events:read: her own scopes are checked, though
  // the same document passed for her other subscribers
  const minted = await acme.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: { scopes: ['sessions:read'] } })
  const token = minted.json().token as string
  gw.secret(token)
  const narrow = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${token}` }, retryAttempts: 0 })
  t.teardown(async () => { await narrow.dispose() })
  const refused = subscribe(narrow, { id: sessionId })
  await t.rejects(refused.done, /GW_ERR_SCOPE_REQUIRED/, 'a credential without events:read is refused')
  t.same(refused.seen, [])
  t.equal(shares.executions, 2, 'the strangers did not join alice\'s execution, and theirs ended')
  t.equal(shares.subscribers, 6)

  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] shared") { id } }', { id: sessionId })
  const [first] = await leaver.done
  t.ok(first, 'the leaver got its first event and completed')
  const received = await Promise.all(same.map(async (s) => await s.done))
  const log = (await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { events(limit: 1000) { items { cursor type } } } }', { id: sessionId })).body.data!.session.events.items as Event[]
  t.ok(log.filter(e => e.type === 'heartbeat').length >= 3, 'the turn logged several events')
  for (const seen of received) t.same(seen, log, 'each of the others still got the whole turn, once, in order')
  t.same(first, log[0], 'the leaver\'s one event was the first')
  t.equal(follows, 2, 'still one follower per execution (the strangers were refused before following)')
  t.same(elsewhere.seen, [], 'the other session\'s subscriber saw nothing of this turn')

  await until(() => stayer.seen.length === log.length, 'the one that stays to see the whole turn')
  t.same(stayer.seen, log)
  t.equal(shares.executions, 2, 'the first execution runs on for the one that stays')
  t.equal(shares.subscribers, 2)

  // a newcomer once events were sent would miss them: it starts its own execution (and
  // stays: it replays the whole turn at once, and one that left at its end might be gone
  // before it is counted)
  subscribe(client(acme, 'alice'), { id: sessionId }, () => false).done.catch(() => {})
  await until(() => shares.subscribers === 3, 'the newcomer\'s subscription to start')
  t.equal(shares.executions, 3, 'the newcomer has an execution of its own')
  await until(() => follows === 3, 'the newcomer to follow the session itself')
  t.equal(follows, 3, 'and follows the session itself')
  await settled(gw, acme, 'alice', sessionId)
})

t.test('subscribers that number their subscriptions alike get the same frames, each every event once, in order', async (t) => {
  const gw = await buildGateway(t, { sim: { stepDelayMs: 5, generationMs: 200, heartbeatIntervalMs: 20 }, config: { HEARTBEAT_EVENT_INTERVAL_MS: 0 } })
  const acme = await gw.tenant('acme')
  const url = (await gw.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  const sessionId = (await gql(acme, 'alice', 'mutation { createSession(title: "ids") { id } }')).body.data!.createSession.id as string
  const shares = gw.app.graphqlShares
  // graphql-ws numbers with random UUIDs; these clients all say "1", one says "2"
  const subscribe = (id: string, stopAfterFirst = false) => {
    const c = createClient({ url, webSocketImpl: WebSocket, connectionParams: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }, retryAttempts: 0, generateID: () => id })
    t.teardown(async () => { await c.dispose() })
    const seen: Event[] = []
    const done = new Promise<Event[]>((resolve, reject) => {
      const cancel = c.subscribe<{ sessionEvents: Event }>({ query: SUBSCRIPTION, variables: { id: sessionId } }, {
        next: (result) => {
          if (result.errors) { reject(new Error(JSON.stringify(result.errors))); return }
          seen.push(result.data!.sessionEvents)
          if (stopAfterFirst || result.data!.sessionEvents.type === 'turn.completed') { cancel(); resolve(seen) }
        },
        error: (err) => { reject(err instanceof Error ? err : new Error(JSON.stringify(err))) },
        complete: () => { resolve(seen) }
      })
    })
    return done
  }
  const ones = [subscribe('1'), subscribe('1'), subscribe('1')]
  const two = subscribe('2')
  const leaver = subscribe('1', true)
  await until(() => shares.subscribers === 5, 'the five subscriptions to start')
  t.equal(shares.executions, 1, 'one execution for the five')

  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] ids") { id } }', { id: sessionId })
  const log = async () => (await gql(acme, 'alice', 'query ($id: ID!) { session(id: $id) { events(limit: 1000) { items { cursor type } } } }', { id: sessionId })).body.data!.session.events.items as Event[]
  const [first] = await leaver
  const received = await Promise.all([...ones, two])
  const events = await log()
  t.ok(events.length >= 4, 'the turn logged several events')
  for (const seen of received) t.same(seen, events, 'each got the whole turn, once, in order')
  t.same(first, events[0], 'the one that left with id "1" after its first event did not take the others with it')
  await settled(gw, acme, 'alice', sessionId)
})
