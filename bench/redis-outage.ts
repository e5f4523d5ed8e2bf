// A Redis outage drill: two real gateway processes on one Postgres and one Redis reached
// through a TCP proxy, under steady traffic on both, with a session followed over SSE on B
// while A runs turns in it. The proxy is cut for OUTAGE_S seconds (connections dropped, new
// ones refused), then restored. Prints what was answered and failed before, during and after,
// when each instance saw Redis go and come back (/health/ready), and when B's follower got
// the turns A ran during the outage.
//
//   DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres REDIS_URL=redis://127.0.0.1:6379 \
//     node --import=tsx bench/redis-outage.ts [OUTAGE_S=60]
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import net from 'node:net'
import { setTimeout as sleep } from 'node:timers/promises'
import pg from 'pg'
import { request } from 'undici'
import { buildSimulator } from '../src/simulator/app.ts'
import { withDatabase } from '../src/db/schema-engine-adapter.ts'
import { root } from './lib.ts'

const OUTAGE_S = Number(process.argv[2] ?? 60)
const BEFORE_S = 10
const AFTER_S = 20
const LOOPS = 4
const DATABASE_URL = process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres'
const REDIS_URL = new URL(process.env.REDIS_URL ?? 'redis://127.0.0.1:6379')

const t0 = Date.now()
const since = (at: number) => `${((at - t0) / 1000).toFixed(2)} s`

async function admin (sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: DATABASE_URL })
  await client.connect()
  try { await client.query(sql) } finally { await client.end() }
}

/** A proxy that can be cut (nothing listens on its port) and restored on the same port. */
async function cuttingProxy (): Promise<{ port: number, cut: () => Promise<void>, restore: () => Promise<void> }> {
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(REDIS_URL.port || 6379), REDIS_URL.hostname)
    sockets.add(client).add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => { sockets.delete(client); sockets.delete(upstream); client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  return {
    port,
    cut: async () => {
      for (const s of sockets) s.destroy()
      await new Promise<void>((resolve) => server.close(() => resolve()))
    },
    restore: async () => { await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)) }
  }
}

interface Gateway { name: string, proc: ChildProcess, out: string, url: string, exited: number | null }

async function startGateway (name: string, env: Record<string, string>): Promise<Gateway> {
  const proc = spawn(process.execPath, ['--import=tsx', '--import=./src/telemetry.ts', 'src/server.ts'], {
    cwd: root, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe']
  })
  const gw: Gateway = { name, proc, out: '', url: '', exited: null }
  proc.stdout!.on('data', (c: Buffer) => { gw.out += c.toString() })
  proc.stderr!.on('data', (c: Buffer) => { gw.out += c.toString() })
  proc.on('exit', (code) => { gw.exited = code ?? -1 })
  for (;;) {
    const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(gw.out)
    if (m) { gw.url = m[1]!; return gw }
    if (gw.exited !== null) throw new Error(`${name} exited: ${gw.out}`)
    await sleep(50)
  }
}

async function call (url: string, method: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, json: any }> {
  const res = await request(url, { method: method as 'GET', headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body), headersTimeout: 10_000, bodyTimeout: 10_000 })
  const text = await res.body.text()
  return { status: res.statusCode, json: text === '' ? null : JSON.parse(text) }
}

const dbName = `redis_drill_${Date.now().toString(36)}_${randomBytes(3).toString('hex')}`
await admin(`CREATE DATABASE "${dbName}"`)
const sim = await buildSimulator({ stepDelayMs: 5, generationMs: 50, heartbeatIntervalMs: 20, mintLimitPerIp: 1000, anonymousCredits: 1_000_000 })
await sim.listen({ port: 0, host: '127.0.0.1' })
const simUrl = `http://127.0.0.1:${(sim.server.address() as net.AddressInfo).port}`
const proxy = await cuttingProxy()
const adminToken = 'admin-' + randomBytes(12).toString('hex')
const env = {
  DATABASE_URL: withDatabase(DATABASE_URL, dbName),
  REDIS_URL: `redis://127.0.0.1:${proxy.port}`,
  NEMO_BASE_URL: simUrl,
  ENCRYPTION_KEY: randomBytes(32).toString('hex'),
  ADMIN_TOKEN: adminToken,
  PORT: '0',
  LOG_LEVEL: 'info',
  FIRST_RUN_TENANT: 'false',
  MAX_EVENT_LOOP_DELAY_MS: '0',
  RATE_LIMIT_MAX: '1000000'
}
const a = await startGateway('A', env)
const b = await startGateway('B', env)

try {
  const tenant = (await call(`${a.url}/admin/v1/tenants`, 'POST', { name: 'acme' }, { authorization: `Bearer ${adminToken}` })).json
  const key = (await call(`${a.url}/admin/v1/tenants/${tenant.id}/keys`, 'POST', { name: 'k' }, { authorization: `Bearer ${adminToken}` })).json.key as string
  const as = { authorization: `Bearer ${key}`, 'x-user-id': 'alice' }
  const session = (await call(`${a.url}/v1/sessions`, 'POST', {}, as)).json

  let phase: 'before' | 'during' | 'after' = 'before'
  const tally: Record<string, Record<string, number>> = { before: {}, during: {}, after: {} }
  const latencies: Record<string, number[]> = { before: [], during: [], after: [] }
  const flags = { running: true, following: false }

  // steady traffic on both instances
  const loops = Array.from({ length: LOOPS }, async (_, i) => {
    const gw = i % 2 === 0 ? a : b
    for (let n = 0; flags.running; n++) {
      const p = phase
      const began = performance.now()
      let outcome: string
      try {
        outcome = String((await call(`${gw.url}${n % 2 === 0 ? '/v1/sessions' : '/v1/credits'}`, 'GET', undefined, as)).status)
      } catch (err) {
        outcome = (err as { code?: string }).code ?? 'error'
      }
      latencies[p]!.push(performance.now() - began)
      tally[p]![outcome] = (tally[p]![outcome] ?? 0) + 1
      await sleep(5)
    }
  })

  // readiness of each instance, as an orchestrator polls it
  const redisSeen: Array<{ gw: string, at: number, redis: string }> = []
  const polls = [a, b].map(async (gw) => {
    let last = ''
    while (flags.running) {
      const r = await call(`${gw.url}/health/ready`, 'GET').catch(() => ({ status: 0, json: null }))
      const state = `${r.status}:${r.json?.checks?.redis ?? '-'}`
      if (state !== last) { redisSeen.push({ gw: gw.name, at: Date.now(), redis: state }); last = state }
      await sleep(100)
    }
  })

  // B follows the session over SSE; A runs a turn every 2 s
  const arrivals = new Map<string, number>()
  const follower = (async () => {
    const res = await request(`${b.url}/v1/sessions/${session.id}/events`, { headers: { ...as, accept: 'text/event-stream' }, bodyTimeout: 0 })
    let buffer = ''
    for await (const chunk of res.body) {
      flags.following = true
      buffer += chunk.toString()
      let i
      while ((i = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, i)
        buffer = buffer.slice(i + 2)
        const data = /^data: (.*)$/m.exec(frame)?.[1]
        if (data === undefined) continue
        const event = JSON.parse(data) as { type: string, turnId: string | null }
        if (event.type === 'turn.completed' && event.turnId) arrivals.set(event.turnId, Date.now())
      }
      if (!flags.running) break
    }
  })().catch(() => {})
  const turns: Array<{ id: string, phase: string, doneAt: number }> = []
  while (!flags.following) await sleep(20)
  const producer = (async () => {
    while (flags.running) {
      const p = phase
      const started = await call(`${a.url}/v1/sessions/${session.id}/turns`, 'POST', { text: '[scenario:silent-edit] add a title' }, as).catch(() => null)
      if (started?.status === 202) {
        const id = started.json.id as string
        for (;;) {
          const turn = await call(`${a.url}/v1/sessions/${session.id}/turns/${id}`, 'GET', undefined, as).catch(() => null)
          if (turn?.json?.status !== 'running') break
          await sleep(50)
        }
        turns.push({ id, phase: p, doneAt: Date.now() })
      }
      await sleep(2000)
    }
  })()

  await sleep(BEFORE_S * 1000)
  const cutAt = Date.now()
  phase = 'during'
  await proxy.cut()
  console.log(`${since(cutAt)} Redis cut`)
  await sleep(OUTAGE_S * 1000)
  phase = 'after'
  await proxy.restore()
  const restoredAt = Date.now()
  console.log(`${since(restoredAt)} Redis back`)
  await sleep(AFTER_S * 1000)
  flags.running = false
  await Promise.all([...loops, ...polls, producer])
  await follower

  const pct = (xs: number[], q: number) => { const s = [...xs].sort((x, y) => x - y); return Math.round(s[Math.min(s.length - 1, Math.floor(s.length * q))] ?? 0) }
  const back = (gw: string) => redisSeen.find((s) => s.gw === gw && s.at >= restoredAt && s.redis === '200:ok')
  const down = (gw: string) => redisSeen.find((s) => s.gw === gw && s.at >= cutAt && s.redis !== '200:ok')
  const summary = {
    outageSeconds: OUTAGE_S,
    answers: tally,
    latencyMs: Object.fromEntries(Object.entries(latencies).map(([p, xs]) => [p, { p50: pct(xs, 0.5), p99: pct(xs, 0.99), max: pct(xs, 1) }])),
    readiness: Object.fromEntries(['A', 'B'].map((gw) => [gw, {
      sawDownAfterMs: down(gw) ? down(gw)!.at - cutAt : null,
      sawBackAfterMs: back(gw) ? back(gw)!.at - restoredAt : null,
      states: [...new Set(redisSeen.filter((s) => s.gw === gw).map((s) => s.redis))]
    }])),
    turnsOnA: Object.fromEntries(['before', 'during', 'after'].map((p) => [p, turns.filter((x) => x.phase === p).length])),
    followerOnB: Object.fromEntries(['before', 'during', 'after'].map((p) => {
      const ts = turns.filter((x) => x.phase === p)
      const lag = ts.map((x) => arrivals.has(x.id) ? arrivals.get(x.id)! - x.doneAt : null)
      return [p, {
        received: lag.filter((l) => l !== null).length,
        of: ts.length,
        ...(p === 'during' ? { receivedAfterRestoreMs: ts.map((x) => arrivals.has(x.id) ? arrivals.get(x.id)! - restoredAt : null) } : { lagMs: { max: Math.max(0, ...lag.filter((l): l is number => l !== null)) } })
      }]
    })),
    processesAlive: { A: a.exited === null, B: b.exited === null },
    logLines: Object.fromEntries([a, b].map((gw) => [gw.name, {
      redisWarnings: (gw.out.match(/Redis \(REDIS_URL\) is unreachable/g) ?? []).length,
      redisBack: (gw.out.match(/Redis is reachable again/g) ?? []).length,
      backLine: /"downMs":(\d+)/.exec(gw.out)?.[1] ?? null
    }]))
  }
  console.log(JSON.stringify(summary, null, 2))
} finally {
  for (const gw of [a, b]) gw.proc.kill('SIGTERM')
  await Promise.all([a, b].map(async (gw) => { while (gw.exited === null) await sleep(50) }))
  await proxy.cut().catch(() => {})
  await sim.close()
  await admin(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`)
}
