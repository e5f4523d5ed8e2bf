// Two instances on one Postgres and one Redis: a GraphQL subscriber on instance B sees, live,
// a turn sent through instance A (mercurius is given the app's Redis-backed emitter).
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway } from '../helpers/app.ts'
import { testDatabase } from '../helpers/database.ts'
import { NO_REDIS, REDIS_URL, redisAvailable } from '../helpers/redis.ts'
import { gql, settled } from './helpers.ts'

const available = await redisAvailable()
const why = NO_REDIS

t.test('a subscriber on instance B sees a turn sent through instance A, live', { skip: available ? false : why }, async (t) => {
  const databaseUrl = await testDatabase(t)
  const sim = { stepDelayMs: 5, generationMs: 50, heartbeatIntervalMs: 10 }
  const config = { REDIS_URL, ENCRYPTION_KEY: randomBytes(32).toString('hex') }
  const a = await buildGateway(t, { databaseUrl, sim, config })
  const b = await buildGateway(t, { databaseUrl, sim, config })
  const urlB = (await b.app.listen({ port: 0, host: '127.0.0.1' })).replace(/^http/, 'ws') + '/graphql'
  const acme = await a.tenant('acme')
  const sessionId = (await gql(acme, 'alice', 'mutation { createSession { id } }')).body.data!.createSession.id

  const client = createClient({ url: urlB, webSocketImpl: WebSocket, retryAttempts: 0, connectionParams: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' } })
  t.teardown(async () => { await client.dispose() })
  const types: string[] = []
  let subscribed!: () => void
  const started = new Promise<void>(resolve => { subscribed = resolve })
  const done = new Promise<void>((resolve, reject) => {
    const cancel = client.subscribe<{ sessionEvents: { type: string } }>({
      query: 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { type } }',
      variables: { id: sessionId }
    }, {
      next: ({ data }) => {
        types.push(data!.sessionEvents.type)
        if (data!.sessionEvents.type === 'turn.completed') { cancel(); resolve() }
      },
      error: reject,
      complete: resolve
    })
    client.on('connected', () => subscribed())
  })
  await started
  // the replay finds nothing yet, so everything below can only arrive live, through Redis
  await new Promise(resolve => setTimeout(resolve, 100))
  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:generation] rain") { id } }', { id: sessionId })
  await done
  t.equal(types[0], 'turn.started')
  t.equal(types.at(-1), 'turn.completed')
  await settled(a, acme, 'alice', sessionId)
})
