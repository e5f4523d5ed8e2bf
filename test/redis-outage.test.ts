// Redis is a cache and a fan-out here, never the record: with REDIS_URL set, an instance keeps
// serving while Redis is gone (from the start, or cut mid-traffic), says so in /health/ready,
// and picks the link up again by itself when Redis is back.
import t, { type Test } from 'tap'
import type { AddressInfo } from 'node:net'
import { randomBytes } from 'node:crypto'
import { setTimeout as sleep } from 'node:timers/promises'
import type { InjectOptions, LightMyRequestResponse } from 'fastify'
import { buildGateway, type TestGateway } from './helpers/app.ts'
import { testDatabase } from './helpers/database.ts'
import { FAST_EXPORTS, FAST_SIM, renderableSession, settled } from './helpers/exports.ts'
import { NO_REDIS, REDIS_URL, redisAvailable, refusingRedisUrl } from './helpers/redis.ts'
import { readSse, waitFor } from './helpers/sse.ts'
import { cuttingProxy } from './helpers/tcp-proxy.ts'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway } from './helpers/process.ts'

const available = await redisAvailable()
// instances that share a database share the key its secrets are encrypted with
const ENCRYPTION_KEY = randomBytes(32).toString('hex')

/** Errors nobody handled while the test runs (in a real process, any of them ends it). */
function watchUnhandled (t: Test): unknown[] {
  const seen: unknown[] = []
  const record = (err: unknown) => { seen.push(err) }
  process.on('unhandledRejection', record)
  process.on('uncaughtException', record)
  t.teardown(() => {
    process.off('unhandledRejection', record)
    process.off('uncaughtException', record)
  })
  return seen
}

t.test('a gateway whose Redis refuses from the start builds, serves and says Redis is unreachable', async (t) => {
  const unhandled = watchUnhandled(t)
  const gw = await buildGateway(t, { config: { REDIS_URL: await refusingRedisUrl(), RATE_LIMIT_MAX: 1000 } })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const acme = await gw.tenant('acme')

  const session = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(session.statusCode, 201, 'a session is created')
  const credits = await acme.as('alice', { method: 'GET', url: '/v1/credits' })
  t.equal(credits.statusCode, 200, 'credits are read')
  t.ok(credits.headers['ratelimit-limit'], 'the rate limit still counts (per instance)')

  const ready = await gw.app.inject({ method: 'GET', url: '/health/ready' })
  t.equal(ready.statusCode, 200, 'still ready: the database is the record')
  t.equal(ready.json().checks.redis, 'unreachable')
  t.equal(ready.json().checks.database, 'ok')

  const scrape = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(scrape, /gateway_redis_up\{connection="events-subscribe"[^}]*\} 0/, 'the gauge says Redis is down')

  // this instance's own followers miss nothing: their wake-ups stay in the process
  const address = gw.app.server.address() as AddressInfo
  const follow = readSse(`http://127.0.0.1:${address.port}/v1/sessions/${session.json().id}/events`, {
    headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' },
    until: (f) => f.event === 'turn.completed' || f.event === 'turn.failed'
  })
  await sleep(200)
  const turn = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.json().id}/turns`, payload: { text: '[scenario:silent-edit] add a title' } })
  t.equal(turn.statusCode, 202, 'a turn starts')
  const types = (await follow).frames.map((f) => f.event)
  t.equal(types[0], 'turn.started', 'a follower on the same instance sees it live')
  t.equal(types.at(-1), 'turn.completed')

  // a few reconnection attempts go by: none of them may bring the process down
  await sleep(1500)
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/sessions' })).statusCode, 200, 'still serving after the retries')
  t.same(unhandled, [], 'no unhandled error')
  const warnings = gw.logs.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /redis/i.test(l.msg))
  t.equal(warnings.length, 1, 'one warning that Redis is down, not one per retry')
})

t.test('the gateway process starts and stays up while its Redis refuses', { timeout: 120_000 }, async (t) => {
  const sim = await startSimulator(t, { mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url, { REDIS_URL: await refusingRedisUrl() })
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  let exited = false
  gw.exit.then(() => { exited = true }, () => {})
  const base = await gw.url
  const call = jsonClient(() => base)
  const { as } = await adminTenant(call, adminToken)
  t.equal((await call('POST', '/v1/sessions', {}, as)).status, 201, 'a session is created')
  const ready = await call('GET', '/health/ready')
  t.equal(ready.status, 200)
  t.equal(ready.json.checks.redis, 'unreachable')
  await sleep(2000)
  t.notOk(exited, 'still running after the reconnection attempts')
  t.equal((await call('GET', '/v1/credits', undefined, as)).status, 200, 'and serving')
  gw.kill('SIGTERM')
  t.equal(await gw.exit, 0, 'and it closes cleanly, Redis or not')
  t.equal((gw.out.match(/Redis \(REDIS_URL\) is unreachable/g) ?? []).length, 1, 'one warning in its log')
})

t.test('two instances ride out a Redis cut mid-traffic and pick the fan-out up again by themselves', { skip: available ? false : NO_REDIS }, async (t) => {
  const unhandled = watchUnhandled(t)
  const databaseUrl = await testDatabase(t)
  const proxy = await cuttingProxy(t, REDIS_URL)
  const config = { ...FAST_EXPORTS, REDIS_URL: proxy.url, ENCRYPTION_KEY, RATE_LIMIT_MAX: 100_000 }
  const sim = { ...FAST_SIM, stepDelayMs: 5, anonymousCredits: 100_000 }
  const a = await buildGateway(t, { databaseUrl, sim, config })
  // one upstream for both, as in production
  const b = await buildGateway(t, { databaseUrl, sim, config: { ...config, NEMO_BASE_URL: a.sim.url } })
  await b.app.listen({ port: 0, host: '127.0.0.1' })
  const urlB = `http://127.0.0.1:${(b.app.server.address() as AddressInfo).port}`
  const acme = await a.tenant('acme')
  const headers = { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
  const onB = async (opts: InjectOptions) => await b.app.inject({ ...opts, headers: { ...headers, ...opts.headers } })
  const redisState = async (gw: TestGateway) => (await gw.app.inject({ method: 'GET', url: '/health/ready' })).json().checks?.redis as string | undefined
  await waitFor(async () => [await redisState(a), await redisState(b)], (s) => s.every((x) => x === 'ok'))

  // traffic on both instances the whole time: every answer is counted
  const answers = new Map<string, number>()
  const traffic = { on: true }
  const load = (async () => {
    for (let i = 0; traffic.on; i++) {
      const res = i % 2 === 0
        ? await acme.as('alice', { method: 'GET', url: '/v1/sessions' })
        : await onB({ method: 'GET', url: '/v1/credits' })
      answers.set(String(res.statusCode), (answers.get(String(res.statusCode)) ?? 0) + 1)
      await sleep(10)
    }
  })()

  // a session whose draft can be rendered, followed live on B from its start
  const session = await renderableSession(acme, 'alice')
  const arrivals: Array<{ at: number, type?: string, turnId?: string }> = []
  let stopFollowing = false
  const follow = readSse(`${urlB}/v1/sessions/${session.id}/events`, {
    headers,
    timeoutMs: 60_000,
    until: (f) => {
      arrivals.push({ at: Date.now(), type: f.event, turnId: f.json?.turnId })
      return stopFollowing && f.event === 'turn.completed'
    }
  })
  const completedOnB = async (turnId: string) => (await waitFor(async () => arrivals.find((x) => x.turnId === turnId && x.type === 'turn.completed'), (x) => x !== undefined, 10_000))!
  const turn = async () => {
    const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:silent-edit] add a title' } })
    t.equal(res.statusCode, 202, 'a turn starts on A')
    const id = res.json().id as string
    await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/turns/${id}` })).json(), (x: any) => x.status !== 'running')
    return id
  }
  const startExport = async (as: (o: InjectOptions) => Promise<LightMyRequestResponse>) => {
    const res = await as({ method: 'POST', url: `/v1/sessions/${session.id}/exports`, payload: { quality: 'high', resolution: '1080p' } })
    t.equal(res.statusCode, 202, 'an export starts', { body: res.body })
    return res.json().id as string
  }
  const exports: string[] = []
  const archived = async (id: string) => {
    t.equal((await settled(acme, 'alice', id)).status, 'completed', `export ${id} completes`)
    await waitFor(async () => (await acme.as('alice', { method: 'GET', url: `/v1/exports/${id}` })).json(), (e: any) => e.archive?.state === 'archived', 20_000)
  }

  // before: events produced on A reach the follower on B through Redis
  // (a turn and a render do not overlap in one session: the upstream refuses a turn while it renders)
  await completedOnB(await turn())
  exports.push(await startExport((o) => acme.as('alice', o)))
  await archived(exports[0]!)

  // the cut
  await proxy.cut()
  const cutAt = Date.now()
  const down = await waitFor(async () => [await redisState(a), await redisState(b)], (s) => s.every((x) => x === 'unreachable'), 5000)
  t.same(down, ['unreachable', 'unreachable'], `both instances report Redis unreachable ${Date.now() - cutAt} ms after the cut`)
  // (B's own events still wake its followers, which then read everything in the log: so the
  // export's last event, its archived copy, is written before the turn, wherever its job runs)
  exports.push(await startExport(onB))
  await archived(exports[1]!)
  const during = await turn()
  await sleep(Math.max(200, 3000 - (Date.now() - cutAt)))
  t.notOk(arrivals.some((x) => x.turnId === during), 'without Redis, B is not woken by A\'s events (it is told later)')

  // back: the instances reconnect by themselves and B's follower reads what it missed
  await proxy.restore()
  const restoredAt = Date.now()
  await waitFor(async () => [await redisState(a), await redisState(b)], (s) => s.every((x) => x === 'ok'), 10_000)
  const reconnectMs = Date.now() - restoredAt
  t.ok(reconnectMs < 5000, `both instances report Redis ok ${reconnectMs} ms after it is back`)
  const caughtUp = await completedOnB(during)
  t.ok(caughtUp.at >= restoredAt, `the follower on B gets the turn run during the outage ${caughtUp.at - restoredAt} ms after Redis is back, with no new event`)
  stopFollowing = true
  const after = await turn()
  const frames = (await follow).frames
  exports.push(await startExport((o) => acme.as('alice', o)))
  t.equal(frames.at(-1)?.json?.turnId, after, 'and a turn run after it, live')
  const cursors = frames.map((f) => Number(f.id))
  t.same(cursors, [...cursors].sort((x, y) => x - y), 'in order')
  t.equal(new Set(cursors).size, cursors.length, 'with no duplicate')

  for (const id of exports) t.equal((await settled(acme, 'alice', id)).status, 'completed', `export ${id} completes`)
  traffic.on = false
  await load
  t.ok((answers.get('200') ?? 0) > 50, `requests kept being answered (${JSON.stringify(Object.fromEntries(answers))})`)
  t.same([...answers.keys()], ['200'], 'and none failed')
  for (const [name, gw] of [['A', a], ['B', b]] as const) {
    const lines = gw.logs.map((l) => JSON.parse(l) as { level: number, msg: string })
    t.equal(lines.filter((l) => l.level === 40 && /Redis .*unreachable/.test(l.msg)).length, 1, `${name} warned once that Redis was gone`)
    t.equal(lines.filter((l) => l.level === 30 && /Redis is reachable again/.test(l.msg)).length, 1, `${name} said once that it was back`)
  }
  t.same(unhandled, [], 'no unhandled error')
})
