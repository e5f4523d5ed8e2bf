// The event log under concurrent writers: two instances append to one session at once while
// a follower reads; it must see every event exactly once, in cursor order.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { buildGateway } from '../../helpers/app.ts'
import { testDatabase } from '../../helpers/database.ts'

/** Two instances on one database, without Redis (B's events never wake A's followers), and a session of alice's. */
async function twoInstances (t: Test) {
  const databaseUrl = await testDatabase(t)
  const ENCRYPTION_KEY = randomBytes(32).toString('hex')
  const a = await buildGateway(t, { databaseUrl, config: { ENCRYPTION_KEY } })
  const b = await buildGateway(t, { databaseUrl, config: { ENCRYPTION_KEY } })
  const acme = await a.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  return { a, b, session }
}

t.test('concurrent appends from two instances reach a follower exactly once, in order', async (t) => {
  const { a, b, session } = await twoInstances(t)

  const controller = new AbortController()
  const seen: string[] = []
  const following = (async () => {
    for await (const e of a.app.domain.events.follow(session.id, 0n, controller.signal)) {
      seen.push(e.cursor)
      if (e.type === 'done') controller.abort()
    }
  })()

  const writes: Array<Promise<unknown>> = []
  for (let i = 0; i < 60; i++) {
    const events = (i % 2 === 0 ? a : b).app.domain.events
    writes.push(events.append(session.id, 'tick', { i }))
  }
  await Promise.all(writes)
  await a.app.domain.events.append(session.id, 'done', {})
  await following

  const log = (await a.app.prisma.sessionEvent.findMany({ where: { sessionId: session.id }, orderBy: { cursor: 'asc' } })).map(e => e.cursor.toString())
  t.equal(log.length, 61)
  t.same(seen, log, 'the follower saw the whole log, once, in order')
})

t.test('a follower that starts from an event this instance just wrote reads no log, and still misses nothing written elsewhere', async (t) => {
  const { a, b, session } = await twoInstances(t)
  const events = a.app.domain.events
  // the log reads A makes (counted, still done by the real reader)
  let reads = 0
  const list = events.list.bind(events)
  events.list = async (...args: Parameters<typeof list>) => { reads++; return await list(...args) }
  const follow = (from: Awaited<ReturnType<typeof events.append>>, until: string) => {
    const controller = new AbortController()
    return (async () => {
      const seen: string[] = []
      for await (const e of events.follow(session.id, BigInt(from.cursor) - 1n, controller.signal, from)) {
        seen.push(e.type)
        if (e.type === until) controller.abort()
      }
      return seen
    })()
  }

  // nothing written since: no read at all
  const started = await events.append(session.id, 'start-1', {})
  const first = follow(started, 'end-1')
  await events.append(session.id, 'text-1', {})
  await events.append(session.id, 'end-1', {})
  t.same(await first, ['start-1', 'text-1', 'end-1'], 'the follower starts with the event it was given, then follows live')
  t.equal(reads, 0, 'without reading the log')

  // B writes right after it, unheard here: the next event A writes makes the tail read the log
  const again = await events.append(session.id, 'start-2', {})
  await b.app.domain.events.append(session.id, 'elsewhere', {})
  const second = follow(again, 'end-2')
  await events.append(session.id, 'end-2', {})
  t.same(await second, ['start-2', 'elsewhere', 'end-2'], 'an event written by another instance in between is not missed')

  // A wrote another event before the follower started: it reads the log from the start
  const third = await events.append(session.id, 'start-3', {})
  await events.append(session.id, 'text-3', {})
  const before = reads
  const following = follow(third, 'end-3')
  await events.append(session.id, 'end-3', {})
  t.same(await following, ['start-3', 'text-3', 'end-3'])
  t.ok(reads > before, 'which it read')
})
