// The event log under concurrent writers: two instances append to one session at once while
// a follower reads; it must see every event exactly once, in cursor order.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { buildGateway } from '../../helpers/app.ts'
import { testDatabase } from '../../helpers/database.ts'

t.test('concurrent appends from two instances reach a follower exactly once, in order', async (t) => {
  const databaseUrl = await testDatabase(t)
  const ENCRYPTION_KEY = randomBytes(32).toString('hex')
  const a = await buildGateway(t, { databaseUrl, config: { ENCRYPTION_KEY } })
  const b = await buildGateway(t, { databaseUrl, config: { ENCRYPTION_KEY } })
  const acme = await a.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()

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
