// Many followers of one session share its tail: one log read per wake-up for all that are
// caught up, every event exactly once and in order for each, late joiners catch up from the
// log and then join, a slow follower falls out of the tail instead of holding it, and when
// the last follower leaves nothing is left behind (no tail, no bus subscription).
import t, { type Test } from 'tap'
import { buildGateway, type TestGateway } from '../../helpers/app.ts'
import type { SessionEvents } from '../../../src/domain/events/events.ts'
import { FOLLOWER_QUEUE_LIMIT } from '../../../src/domain/events/session-tail.ts'

async function until (check: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!check()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 5))
  }
}

/** Counts the log reads of `events` (the tail's and the followers' own). */
function countReads (events: SessionEvents): { reads: number, answered: number } {
  const counter = { reads: 0, answered: 0 }
  const list = events.list.bind(events)
  events.list = async (...args) => {
    counter.reads++
    try {
      return await list(...args)
    } finally {
      counter.answered++
    }
  }
  return counter
}

/** Counts the bus subscriptions `events` holds open. */
function countSubscriptions (events: SessionEvents): { open: number } {
  const counter = { open: 0 }
  const subscribe = events.bus.subscribe.bind(events.bus)
  events.bus.subscribe = (sessionId, listener) => {
    counter.open++
    const unsubscribe = subscribe(sessionId, listener)
    return () => { counter.open--; unsubscribe() }
  }
  return counter
}

interface Following { seen: string[], done: Promise<void>, controller: AbortController }

/** Follows until an event of type `last`, collecting cursors. */
function follow (events: SessionEvents, sessionId: string, after: bigint, last = 'done'): Following {
  const controller = new AbortController()
  const seen: string[] = []
  const done = (async () => {
    for await (const e of events.follow(sessionId, after, controller.signal)) {
      seen.push(e.cursor)
      if (e.type === last) controller.abort()
    }
  })()
  return { seen, done, controller }
}

async function fullLog (gw: TestGateway, sessionId: string): Promise<string[]> {
  return (await gw.app.prisma.sessionEvent.findMany({ where: { sessionId }, orderBy: { cursor: 'asc' }, select: { cursor: true } })).map(e => e.cursor.toString())
}

async function setup (t: Test) {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json() as { id: string }
  return { gw, events: gw.app.domain.events, sessionId: session.id }
}

t.test('caught-up followers share one log read per wake-up and each get every event once, in order', async (t) => {
  const { gw, events, sessionId } = await setup(t)
  const counter = countReads(events)
  const start = await events.lastCursor(sessionId)
  const FOLLOWERS = 50
  const followers = Array.from({ length: FOLLOWERS }, () => follow(events, sessionId, start))
  // each reads the log once to find it is caught up, then joins the tail
  await until(() => counter.answered === FOLLOWERS, 'the followers to read the log once each')
  await new Promise(resolve => setTimeout(resolve, 20))
  t.equal(counter.reads, FOLLOWERS)

  // ... and a follower that arrives at the live tail's position joins without reading
  counter.reads = 0
  followers.push(...Array.from({ length: 10 }, () => follow(events, sessionId, start)))
  await new Promise(resolve => setTimeout(resolve, 50))
  t.equal(counter.reads, 0, 'followers joining a live tail at its position read nothing')

  // appends made here say which event precedes theirs: the tail hands them over unread
  const APPENDS = 20
  for (let i = 0; i < APPENDS; i++) {
    const event = await events.append(sessionId, 'tick', { i })
    await until(() => followers.every(f => f.seen.at(-1) === event.cursor), `event ${i} to reach every follower`)
  }
  t.equal(counter.reads, 0, 'in-order appends reach caught-up followers without a read')
  // an event published without its predecessor (appendIn's, committed with an export's
  // state) is read from the log: once for all of them
  const last = await gw.app.prisma.$transaction(async (tx) => await events.appendIn(tx, sessionId, 'done', { i: APPENDS }))
  events.publish(last)
  await Promise.all(followers.map(async f => await f.done))
  t.equal(counter.reads, 1, 'one read per wake-up, not one per follower')

  const log = (await fullLog(gw, sessionId)).filter(c => BigInt(c) > start)
  t.equal(log.length, APPENDS + 1)
  for (const f of followers) t.same(f.seen, log, 'every event once, in cursor order')
  t.equal(events.followedSessions, 0, 'no tail is left once they all ended')
})

t.test('a burst from two instances reaches every follower exactly once, in order', async (t) => {
  const { gw, events, sessionId } = await setup(t)
  const other = await buildGateway(t, { databaseUrl: gw.config.DATABASE_URL, config: { ENCRYPTION_KEY: gw.config.ENCRYPTION_KEY } })
  const counter = countReads(events)
  const followers = Array.from({ length: 30 }, () => follow(events, sessionId, 0n))
  await until(() => counter.reads >= 30, 'the followers to start')
  const writes: Array<Promise<unknown>> = []
  for (let i = 0; i < 80; i++) writes.push((i % 2 === 0 ? events : other.app.domain.events).append(sessionId, 'tick', { i }))
  await Promise.all(writes)
  await events.append(sessionId, 'done', {})
  await Promise.all(followers.map(async f => await f.done))

  const log = await fullLog(gw, sessionId)
  for (const f of followers) t.same(f.seen, log, 'the whole log, once, in order')
  t.ok(counter.reads < 30 + 41 + 30, `the burst was read by the tail, not by each follower (${counter.reads} reads)`)
})

t.test('a follower from an old cursor catches up from the log, then gets live events without duplicates', async (t) => {
  const { gw, events, sessionId } = await setup(t)
  // 1,200 old events: more than two pages of replay
  await gw.app.prisma.sessionEvent.createMany({ data: Array.from({ length: 1200 }, (_, i) => ({ sessionId, type: 'old', payload: { i } })) })
  const live = follow(events, sessionId, await events.lastCursor(sessionId))
  await until(() => events.followedSessions === 1, 'the live follower')

  const appending = (async () => {
    for (let i = 0; i < 40; i++) {
      await events.append(sessionId, 'tick', { i })
      await new Promise(resolve => setTimeout(resolve, 2))
    }
    await events.append(sessionId, 'done', {})
  })()
  await until(() => live.seen.length > 0, 'a live event')
  const late = follow(events, sessionId, 0n)
  await appending
  await Promise.all([live.done, late.done])

  const log = await fullLog(gw, sessionId)
  t.equal(log.length, 1241)
  t.same(late.seen, log, 'the late follower saw the whole log, once, in order')
  t.same(live.seen, log.slice(1200), 'the live follower saw every live event once')
  t.equal(events.followedSessions, 0)
})

t.test('aborting every follower leaves no tail and no bus subscription behind', async (t) => {
  const { gw, events, sessionId } = await setup(t)
  const acme = await gw.tenant('acme2')
  const second = (await acme.as('bob', { method: 'POST', url: '/v1/sessions', payload: {} })).json() as { id: string }
  const subscriptions = countSubscriptions(events)
  await gw.app.prisma.sessionEvent.createMany({ data: Array.from({ length: 700 }, (_, i) => ({ sessionId, type: 'old', payload: { i } })) })

  const idle = Array.from({ length: 10 }, (_, i) => follow(events, i % 2 === 0 ? sessionId : second.id, 10n ** 15n))
  await until(() => events.followedSessions === 2, 'both tails')
  t.equal(subscriptions.open, 2, 'one bus subscription per followed session, not per follower')
  // one more, aborted in the middle of its replay (it never consumes the first event)
  const replaying = new AbortController()
  const iterator = events.follow(sessionId, 0n, replaying.signal)
  const first = await iterator.next()
  t.equal(first.done, false)
  replaying.abort()
  await iterator.return(undefined)

  for (const f of idle) f.controller.abort()
  await Promise.all(idle.map(async f => await f.done))
  t.equal(events.followedSessions, 0, 'no tail is left')
  t.equal(subscriptions.open, 0, 'no bus subscription is left')

  // and following again works as before
  const again = follow(events, sessionId, await events.lastCursor(sessionId))
  await until(() => events.followedSessions === 1, 'a new tail')
  const done = await events.append(sessionId, 'done', {})
  await again.done
  t.same(again.seen, [done.cursor])
  t.equal(subscriptions.open, 0)
})

t.test('a slow follower does not hold up the others; it falls out of the tail and still gets everything once', async (t) => {
  const { gw, events, sessionId } = await setup(t)
  const start = await events.lastCursor(sessionId)
  const fast = Array.from({ length: 5 }, () => follow(events, sessionId, start))
  // the slow one takes one event, then stops consuming for a while
  const slowSignal = new AbortController()
  const slow = events.follow(sessionId, start, slowSignal.signal)
  const slowFirst = slow.next()
  await until(() => events.followedSessions === 1, 'the tail')
  await new Promise(resolve => setTimeout(resolve, 50))

  // more events than a member may hold unconsumed, written at once, then one wake-up
  const count = FOLLOWER_QUEUE_LIMIT + 300
  await gw.app.prisma.sessionEvent.createMany({ data: Array.from({ length: count }, (_, i) => ({ sessionId, type: 'bulk', payload: { i } })) })
  await events.append(sessionId, 'done', {})
  await Promise.all(fast.map(async f => await f.done))
  t.pass('the fast followers got to the end while the slow one consumed nothing')

  const seen = [(await slowFirst).value!.cursor]
  for (;;) {
    const next = await slow.next()
    if (next.done === true) break
    seen.push(next.value.cursor)
    if (next.value.type === 'done') break
  }
  slowSignal.abort()
  await slow.return(undefined)

  const log = (await fullLog(gw, sessionId)).filter(c => BigInt(c) > start)
  t.equal(log.length, count + 1)
  t.same(seen, log, 'the slow follower got every event once, in order')
  for (const f of fast) t.same(f.seen, log)
  t.equal(events.followedSessions, 0)
})
