// `npm run bench:exports [-- --exports 1000 --poll-rate 50 --concurrency 32 --render-ms 20000]`
//
// 1,000 exports (render jobs) in flight through the gateway against the simulator: the
// upstream render-poll rate must stay under EXPORT_POLL_RATE however many are waiting, every
// export must end in exactly one verified webhook, and the gateway's memory must not climb.
// The simulator and the gateway are child processes (pinned to different cores with taskset
// when it exists); their memory is read from /proc/<pid>/status. The poll rate comes from the
// simulator's own counters (GET /__sim/counters), sampled every second. Then, on the data the
// exports left: `admin backup`, `admin restore` into an empty database and one `admin prune`
// pass with every age at about a second, timed. Not part of `npm test`.
// DATABASE_URL, when set, is used as is; else a throwaway database on the local Postgres, else
// the gateway's embedded Postgres in a temporary directory.
//
// `npm run bench:exports -- --endpoints 20 [--slow-share 0.1 --exports 200 --render-ms 2000]`:
// webhook isolation. The one tenant has --endpoints endpoints (every export: one message per
// endpoint), and the run is made twice, each with a fresh simulator, gateway and database: all
// endpoints healthy, then --slow-share of them slow (half trickle: 200 and its headers at once,
// then one byte a second for --trickle-s; half hang: read the request, never answer). Reported:
// the healthy endpoints' delivery latency (arrival here minus the payload's data.completedAt),
// duplicates, the attempts the gateway recorded on the slow endpoints, the gateway's peak RSS.
// `--gateway-dir DIR` runs the simulator and gateway of another checkout (a "before").
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'
import { freePort } from '../free-port.ts'

const { values: args } = parseArgs({
  options: {
    exports: { type: 'string' },
    'poll-rate': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '32' },
    'render-ms': { type: 'string' },
    'timeout-s': { type: 'string', default: '300' },
    endpoints: { type: 'string', default: '1' },
    'slow-share': { type: 'string', default: '0.1' },
    'trickle-s': { type: 'string', default: '120' },
    'settle-s': { type: 'string', default: '20' },
    scenarios: { type: 'string', default: 'healthy,slow' },
    rounds: { type: 'string', default: '1' },
    'gateway-dir': { type: 'string' },
    label: { type: 'string' }
  }
})
const ROOT = fileURLToPath(new URL('../..', import.meta.url))
/** Where the simulator and the gateway are started from (their src/, node_modules/). */
const GW_DIR = resolve(args['gateway-dir'] ?? ROOT)
const ENDPOINTS = Number(args.endpoints)
const MULTI = ENDPOINTS > 1
const N = Number(args.exports ?? (MULTI ? 200 : 1000))
const POLL_RATE = Number(args['poll-rate'])
const CONCURRENCY = Number(args.concurrency)
const RENDER_MS = Number(args['render-ms'] ?? (MULTI ? 2000 : 20000))
const TIMEOUT_MS = Number(args['timeout-s']) * 1000
const SLOW_SHARE = Number(args['slow-share'])
const TRICKLE_S = Number(args['trickle-s'])
/** With slow endpoints: how long to go on after the healthy deliveries, so slow attempts end. */
const SETTLE_MS = Number(args['settle-s']) * 1000
const SCENARIOS = args.scenarios.split(',').map((s) => s.trim()).filter((s) => s !== '')
/** Rounds of the scenarios, every other one in reverse order (ABBA: a drift of the machine hits both alike). */
const ROUNDS = Number(args.rounds)
if (!Number.isInteger(ENDPOINTS) || ENDPOINTS < 1) throw new Error('--endpoints: a whole number >= 1')
if (!(SLOW_SHARE >= 0 && SLOW_SHARE < 1)) throw new Error('--slow-share: a fraction in [0, 1)')
if (!Number.isInteger(ROUNDS) || ROUNDS < 1) throw new Error('--rounds: a whole number >= 1')
for (const s of SCENARIOS) if (s !== 'healthy' && s !== 'slow') throw new Error(`--scenarios: "${s}" is not healthy or slow`)
const MiB = 1024 * 1024
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

// ---- processes ----

interface Child { name: string, proc: ChildProcess, stderr: string[], tail: () => string, count: (text: string) => number }

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p))
const children = new Set<Child>()

function start (name: string, core: number, nodeArgs: string[], env: Record<string, string>): Child {
  const argv = [process.execPath, ...nodeArgs]
  const [cmd, ...rest] = TASKSET !== undefined && cpus().length > 1 ? [TASKSET, '-c', String(core), ...argv] : argv
  // taskset execs node in place: the pid is node's
  const proc = spawn(cmd!, rest, { cwd: GW_DIR, env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let tail = ''
  const stderr: string[] = []
  // every line of both streams, to count the log lines of one kind (LOG_LEVEL=warn: few)
  const all: string[] = []
  proc.stdout?.on('data', (c: Buffer) => { tail = (tail + c.toString()).slice(-8000); all.push(c.toString()) })
  proc.stderr?.on('data', (c: Buffer) => { tail = (tail + c.toString()).slice(-8000); stderr.push(c.toString()); all.push(c.toString()) })
  proc.on('exit', (code, signal) => { if (code !== 0 && signal === null) console.error(`${name} exited with ${code}:\n${tail}`) })
  const child: Child = { name, proc, stderr, tail: () => tail, count: (text) => all.join('').split(text).length - 1 }
  children.add(child)
  return child
}
// a crash that skips `finally` must not leave them running (a no-op once they have exited)
process.once('exit', () => { for (const c of children) c.proc.kill('SIGKILL') })

async function stop (child: Child | undefined): Promise<void> {
  if (child === undefined || child.proc.exitCode !== null || child.proc.signalCode !== null) return
  const exited = new Promise((resolve) => child.proc.once('exit', resolve))
  child.proc.kill('SIGTERM')
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
}

async function waitReady (url: string, child: Child, ms = 120_000): Promise<void> {
  for (const end = Date.now() + ms; Date.now() < end; await sleep(200)) {
    if (child.proc.exitCode !== null) throw new Error(`${child.name} exited before it was ready:\n${child.tail()}`)
    try {
      const res = await request(url)
      await res.body.dump()
      if (res.statusCode === 200) return
    } catch {}
  }
  throw new Error(`${url} not ready after ${ms} ms:\n${child.tail()}`)
}

async function rss (pid: number, field: 'VmRSS' | 'VmHWM' = 'VmRSS'): Promise<number> {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(await readFile(`/proc/${pid}/status`, 'utf8').catch(() => ''))
  return m ? Number(m[1]) * 1024 : NaN
}

/** A database of the gateway's own: DATABASE_URL as is, else a fresh one on the local server. */
async function database (): Promise<{ url?: string, drop?: () => Promise<void> }> {
  if (process.env.DATABASE_URL) return { url: process.env.DATABASE_URL }
  const server = 'postgres://postgres@127.0.0.1:5432/postgres'
  const name = `bench_exports_${randomBytes(4).toString('hex')}`
  const admin = new pg.Client({ connectionString: server, connectionTimeoutMillis: 3000 })
  try {
    await admin.connect()
  } catch {
    return {} // no server: the gateway's embedded Postgres
  }
  await admin.query(`CREATE DATABASE ${name}`)
  await admin.end()
  const url = new URL(server)
  url.pathname = `/${name}`
  return {
    url: url.toString(),
    drop: async () => {
      const c = new pg.Client({ connectionString: server })
      await c.connect()
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
      await c.end()
    }
  }
}

async function call (method: 'GET' | 'POST', url: string, headers: Record<string, string>, body?: unknown): Promise<any> {
  const res = await request(url, {
    method,
    headers: body === undefined ? headers : { 'content-type': 'application/json', ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) })
  })
  const json = await res.body.json() as any
  if (res.statusCode >= 300) throw new Error(`${method} ${url}: ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

/** Things to undo, last first; every open scope is closed on SIGINT / SIGTERM. */
class Scope {
  private readonly tasks: Array<() => Promise<void> | void> = []
  private closing: Promise<void> | undefined
  static readonly open = new Set<Scope>()
  constructor () { Scope.open.add(this) }
  defer (task: () => Promise<void> | void): void { this.tasks.push(task) }
  async close (): Promise<void> {
    await (this.closing ??= (async () => {
      for (let task = this.tasks.pop(); task !== undefined; task = this.tasks.pop()) {
        await Promise.resolve().then(task).catch((err: unknown) => console.error(`cleanup: ${(err as Error).message}`))
      }
      Scope.open.delete(this)
    })())
  }
}
const onSignal = (): void => { Promise.all([...Scope.open].map(async (s) => await s.close())).finally(() => process.exit(130)) }
process.once('SIGINT', onSignal).once('SIGTERM', onSignal)

// ---- the simulator, the gateway, a tenant with a rendered session ----

interface Stack {
  sim: Child
  gateway: Child
  simUrl: string
  gwUrl: string
  gwPid: number
  simPid: number
  auth: Record<string, string>
  sessionId: string
  database: string
  /** The environment an admin CLI process needs to work on this gateway's database. */
  adminEnv: Record<string, string>
  /** A temporary directory of the run's own (removed at the end). */
  work: string
}

async function startStack (scope: Scope): Promise<Stack> {
  const work = await mkdtemp(join(tmpdir(), 'ngw-bench-exports-'))
  scope.defer(async () => await rm(work, { recursive: true, force: true }))
  const adminToken = randomBytes(16).toString('hex')
  const [simPort, gwPort] = [await freePort(), await freePort()]
  const simUrl = `http://127.0.0.1:${simPort}`
  const gwUrl = `http://127.0.0.1:${gwPort}`
  const db = await database()
  const encryptionKey = process.env.ENCRYPTION_KEY ?? randomBytes(32).toString('hex')
  if (db.drop !== undefined) scope.defer(async () => await db.drop!().catch((err: unknown) => console.error(`could not drop the bench database: ${(err as Error).message}`)))
  // written as in a shell: KEY=value, no spaces in the values
  const env = (text: string): Record<string, string> => Object.fromEntries(text.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
  const sim = start('simulator', 0, ['--import=tsx', 'src/simulator/server.ts'], env(`
    SIM_PORT=${simPort} SIM_HOST=127.0.0.1 SIM_LOG_LEVEL=warn SIM_RENDER_DURATION_MS=${RENDER_MS}
    SIM_MINT_LIMIT_PER_IP=1000000 SIM_STEP_DELAY_MS=1 SIM_GENERATION_MS=20`))
  scope.defer(async () => await stop(sim))
  const gateway = start('gateway', 1, ['--import=tsx', '--import=./src/telemetry.ts', 'src/server.ts'], env(`
    PORT=${gwPort} HOST=127.0.0.1 LOG_LEVEL=warn NEMO_BASE_URL=${simUrl} ADMIN_TOKEN=${adminToken}
    ENCRYPTION_KEY=${encryptionKey} FIRST_RUN_TENANT=false DATA_DIR=${work}
    RATE_LIMIT_MAX=1000000 EXPORT_POLL_INITIAL_MS=2000 EXPORT_POLL_MAX_MS=4000 EXPORT_POLL_RATE=${POLL_RATE}
    JOBS_POLL_INTERVAL_MS=500 WEBHOOK_ALLOWED_CIDRS=127.0.0.0/8 WEBHOOK_POLL_MS=100 MAX_EVENT_LOOP_DELAY_MS=0
    ${db.url === undefined ? '' : `DATABASE_URL=${db.url}`}`))
  scope.defer(async () => await stop(gateway))
  await waitReady(`${simUrl}/__sim/counters`, sim)
  await waitReady(`${gwUrl}/health/ready`, gateway)

  // a tenant, a key, a session with something to render
  const adminAuth = { authorization: `Bearer ${adminToken}` }
  const tenant = await call('POST', `${gwUrl}/admin/v1/tenants`, adminAuth, { name: 'bench-exports' })
  const { key } = await call('POST', `${gwUrl}/admin/v1/tenants/${tenant.id}/keys`, adminAuth, { name: 'bench' })
  const auth = { authorization: `Bearer ${key}`, 'x-user-id': 'u1' }
  const session = await call('POST', `${gwUrl}/v1/sessions`, auth, {})
  const turn = await call('POST', `${gwUrl}/v1/sessions/${session.id}/turns`, auth, { text: '[scenario:generation] make a video' })
  for (let t = turn, i = 0; t.status === 'running'; await sleep(100)) {
    if (++i > 600) throw new Error('the generation turn did not finish in a minute')
    t = await call('GET', `${gwUrl}/v1/sessions/${session.id}/turns/${turn.id}`, auth)
  }
  return {
    sim,
    gateway,
    simUrl,
    gwUrl,
    gwPid: gateway.proc.pid!,
    simPid: sim.proc.pid!,
    auth,
    sessionId: session.id,
    database: db.url === undefined ? 'embedded' : db.drop === undefined ? 'DATABASE_URL' : 'throwaway on 127.0.0.1:5432',
    adminEnv: { LOG_LEVEL: 'warn', ENCRYPTION_KEY: encryptionKey, DATA_DIR: work, ...(db.url === undefined ? {} : { DATABASE_URL: db.url }) },
    work
  }
}

// ---- after the exports: backup, restore, one pruning pass (the admin CLI, as an operator runs it) ----

interface DataLife {
  backup: { wallS: number, ms: number, bytes: number, rows: number }
  restore: { wallS: number, ms: number, into: string }
  prune: { wallS: number, ms: number, batches: number, deleted: Record<string, number> }
}

async function admin (args: string[], env: Record<string, string>): Promise<{ wallS: number, out: any }> {
  const started = performance.now()
  const out = await new Promise<string>((resolve, reject) => {
    // a fresh environment of the bench's own: no DATABASE_URL or DATA_DIR of the shell leaks in
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => k !== 'DATABASE_URL' && k !== 'DATA_DIR' && !k.startsWith('RETENTION_')))
    const proc = spawn(process.execPath, ['--import=tsx', 'src/cli/admin.ts', ...args], { cwd: GW_DIR, env: { ...base, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    proc.stdout.on('data', (c: Buffer) => { stdout += c.toString() })
    proc.stderr.on('data', (c: Buffer) => { stderr += c.toString() })
    proc.on('exit', (code) => { if (code === 0) resolve(stdout); else reject(new Error(`admin ${args.join(' ')}: ${stderr.trim()}`)) })
  })
  return { wallS: +((performance.now() - started) / 1000).toFixed(2), out: JSON.parse(out) }
}

async function dataLife (stack: Stack, scope: Scope): Promise<DataLife> {
  const file = join(stack.work, 'bench.backup')
  const backup = await admin(['backup', file], stack.adminEnv)
  const rows = Object.values(backup.out.rows as Record<string, number>).reduce((a, b) => a + b, 0)
  // into an empty database of the same kind: a throwaway on the local server, or an embedded one
  let target: Record<string, string>
  if (stack.database.startsWith('throwaway')) {
    const db = await database()
    scope.defer(async () => await db.drop?.())
    target = { DATABASE_URL: db.url! }
  } else {
    const dir = await mkdtemp(join(tmpdir(), 'ngw-bench-restore-'))
    scope.defer(async () => await rm(dir, { recursive: true, force: true }))
    target = { DATA_DIR: dir }
  }
  const restore = await admin(['restore', file], { LOG_LEVEL: 'warn', ENCRYPTION_KEY: stack.adminEnv.ENCRYPTION_KEY!, ...target })
  // every finished thing counts as old (about a second): the pass deletes the whole run
  const old = '0.00001'
  const prune = await admin(['prune'], { ...stack.adminEnv, RETENTION_EVENTS_DAYS: old, RETENTION_TURNS_DAYS: old, RETENTION_EXPORTS_DAYS: old, RETENTION_WEBHOOK_MESSAGES_DAYS: old })
  return {
    backup: { wallS: backup.wallS, ms: backup.out.ms, bytes: backup.out.bytes, rows },
    restore: { wallS: restore.wallS, ms: restore.out.ms, into: target.DATABASE_URL === undefined ? 'embedded' : 'throwaway on 127.0.0.1:5432' },
    prune: { wallS: prune.wallS, ms: prune.out.ms, batches: prune.out.batches, deleted: prune.out.deleted }
  }
}

interface Sample { t: number, polls: number, gwRss: number, simRss: number, delivered: number }

/** Every second from now: upstream polls, both RSS, what `delivered` says. */
async function startSampler (stack: Stack, delivered: () => number): Promise<{ samples: Sample[], stop: () => Promise<void> }> {
  const counters = async (): Promise<number> => (await call('GET', `${stack.simUrl}/__sim/counters`, {})).requests['render-poll'] as number
  const samples: Sample[] = []
  const sample = async (): Promise<void> => { samples.push({ t: Date.now(), polls: await counters(), gwRss: await rss(stack.gwPid), simRss: await rss(stack.simPid), delivered: delivered() }) }
  await sample()
  const sampling = { on: true }
  const sampler = (async () => { while (sampling.on) { await sleep(1000 - ((Date.now() - samples[0]!.t) % 1000)); await sample() } })()
    .catch((err: unknown) => console.error(`sampling stopped: ${(err as Error).message}`))
  return { samples, stop: async () => { sampling.on = false; await sampler } }
}

/** N exports of the one session, CONCURRENCY at a time. */
async function submitExports (stack: Stack): Promise<{ latencies: number[], failures: string[], submitStart: number, submitEnd: number }> {
  const latencies: number[] = []
  const failures: string[] = []
  const submitStart = Date.now()
  let next = 0
  await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
    while (next < N) {
      next++
      const t0 = performance.now()
      const res = await request(`${stack.gwUrl}/v1/sessions/${stack.sessionId}/exports`, { method: 'POST', headers: { ...stack.auth, 'content-type': 'application/json' }, body: '{}' })
      const text = await res.body.text()
      latencies.push(performance.now() - t0)
      if (res.statusCode !== 202) failures.push(`${res.statusCode} ${text.slice(0, 200)}`)
    }
  }))
  return { latencies, failures, submitStart, submitEnd: Date.now() }
}

const gitCommit = (dir: string): string => {
  try {
    const head = execFileSync('git', ['-C', dir, 'rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim()
    const dirty = execFileSync('git', ['-C', dir, 'status', '--porcelain', '--untracked-files=no', '--', 'src'], { encoding: 'utf8' }).trim() !== ''
    return dirty ? `${head}+changes in src` : head
  } catch {
    return 'unknown'
  }
}

interface Machine { cores: number, cpu: string, node: string, commit: string, benchCommit: string, gatewayDir: string, date: string, loadavg: number[], pinned: boolean, database: string }

async function machine (databaseKind: string): Promise<Machine> {
  return {
    cores: cpus().length,
    cpu: /^model name\s*:\s*(.*)$/m.exec(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''))?.[1] ?? cpus()[0]?.model ?? 'unknown',
    node: process.version,
    commit: gitCommit(GW_DIR),
    benchCommit: gitCommit(ROOT),
    gatewayDir: GW_DIR,
    date: new Date().toISOString(),
    loadavg: loadavg().map((l) => +l.toFixed(2)),
    pinned: TASKSET !== undefined && cpus().length > 1,
    database: databaseKind
  }
}

// ---- the webhook receiver ----

interface Receiver { url: string, secret: string, arrivals: number[], ids: Set<string>, duplicates: number, verified: number, failedVerify: number, exportIds: Set<string>, types: Record<string, number>, close: () => void }

async function startReceiver (): Promise<Receiver> {
  const r: Receiver = { url: '', secret: '', arrivals: [], ids: new Set(), duplicates: 0, verified: 0, failedVerify: 0, exportIds: new Set(), types: {}, close: () => {} }
  const server = createHttpServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      try {
        new Webhook(r.secret).verify(body, req.headers as Record<string, string>)
        r.verified++
      } catch {
        r.failedVerify++
      }
      const id = String(req.headers['webhook-id'])
      if (r.ids.has(id)) r.duplicates++
      r.ids.add(id)
      const msg = JSON.parse(body) as { type: string, data: { exportId: string } }
      r.types[msg.type] = (r.types[msg.type] ?? 0) + 1
      r.exportIds.add(msg.data.exportId)
      r.arrivals.push(Date.now())
      res.writeHead(204).end()
    })
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`
  r.close = () => { server.closeAllConnections(); server.close() }
  return r
}

// ---- the run ----

const pct = (sorted: number[], p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))] ?? NaN
const mib = (b: number): number => +(b / MiB).toFixed(1)

/** One endpoint, N exports: the poll bound, one webhook each, memory. */
async function runSingle (): Promise<void> {
  const scope = new Scope()
  try {
    const stack = await startStack(scope)
    const { gateway, gwPid } = stack
    const hooks = await startReceiver()
    scope.defer(() => hooks.close())
    hooks.secret = (await call('POST', `${stack.gwUrl}/v1/webhooks/endpoints`, stack.auth, { url: hooks.url })).secret
    await sleep(2000)
    const rssIdle = await rss(gwPid)
    await writeFile(`/proc/${gwPid}/clear_refs`, '5').catch(() => {}) // resets VmHWM, the kernel's peak

    // sampled every second from before the first submit: upstream polls, RSS, deliveries
    const sampler = await startSampler(stack, () => hooks.exportIds.size)
    const samples = sampler.samples

    const { latencies, failures, submitStart, submitEnd } = await submitExports(stack)
    const expected = N - failures.length
    console.error(`submitted ${N} in ${((submitEnd - submitStart) / 1000).toFixed(1)} s (${failures.length} failed); waiting for webhooks`)

    const deadline = Date.now() + TIMEOUT_MS
    let lastLog = 0
    while (hooks.exportIds.size < expected && Date.now() < deadline && gateway.proc.exitCode === null) {
      await sleep(250)
      if (Date.now() - lastLog > 10_000) { lastLog = Date.now(); console.error(`  ${hooks.exportIds.size}/${expected} delivered, gateway RSS ${mib(await rss(gwPid))} MiB`) }
    }
    const timedOut = hooks.exportIds.size < expected
    await sleep(3000) // late duplicates would show up here
    await sampler.stop()
    await sleep(5000)
    const rssAfter = await rss(gwPid)
    const rssPeak = Math.max(...samples.map((s) => s.gwRss), await rss(gwPid, 'VmHWM'))

    // upstream polls per 1-s window, over the windows from the first poll to the last
    const rates = samples.slice(1).map((s, i) => (s.polls - samples[i]!.polls) / ((s.t - samples[i]!.t) / 1000))
    const first = rates.findIndex((r) => r > 0)
    const last = rates.findLastIndex((r) => r > 0)
    const active = first < 0 ? [] : rates.slice(first, last + 1)
    const totalPolls = samples.at(-1)!.polls - samples[0]!.polls
    const window = first < 0 ? 0 : (samples[last + 1]!.t - samples[first]!.t) / 1000
    const arrivals = hooks.arrivals
    const deliverySpan = arrivals.length > 1 ? (arrivals.at(-1)! - arrivals[0]!) / 1000 : 0
    const sorted = [...latencies].sort((a, b) => a - b)
    const errorLines = gateway.stderr.join('').split('\n').filter((l) => l.trim() !== '')
    const life = await dataLife(stack, scope)

    const result = {
      machine: await machine(stack.database),
      config: { exports: N, concurrency: CONCURRENCY, pollRateBound: POLL_RATE, renderMs: RENDER_MS, pollInitialMs: 2000, pollMaxMs: 4000 },
      submit: {
        ok: latencies.length - failures.length,
        failed: failures.length,
        failureSamples: failures.slice(0, 5),
        totalS: +((submitEnd - submitStart) / 1000).toFixed(2),
        perS: +(N / ((submitEnd - submitStart) / 1000)).toFixed(1),
        p50Ms: +pct(sorted, 0.5).toFixed(1),
        p99Ms: +pct(sorted, 0.99).toFixed(1)
      },
      polls: {
        total: totalPolls,
        maxPerS: +Math.max(0, ...active).toFixed(1),
        meanPerS: +(window > 0 ? totalPolls / window : 0).toFixed(1),
        windowS: +window.toFixed(1),
        overBoundWindows: active.filter((r) => r > POLL_RATE * 1.1).length,
        perExport: +(totalPolls / Math.max(1, expected)).toFixed(2)
      },
      webhooks: {
        expected,
        deliveries: arrivals.length,
        exportsCovered: hooks.exportIds.size,
        types: hooks.types,
        verified: hooks.verified,
        failedVerification: hooks.failedVerify,
        duplicates: hooks.duplicates,
        perS: +(deliverySpan > 0 ? arrivals.length / deliverySpan : 0).toFixed(1),
        deliveryWindowS: +deliverySpan.toFixed(1),
        lastSubmitToLastDeliveryS: arrivals.length > 0 ? +((arrivals.at(-1)! - submitEnd) / 1000).toFixed(1) : null,
        timedOut
      },
      dataLife: life,
      memoryMiB: { gatewayIdle: mib(rssIdle), gatewayPeak: mib(rssPeak), gatewayAfter: mib(rssAfter), simulatorPeak: mib(Math.max(...samples.map((s) => s.simRss))) },
      gatewayStderr: { lines: errorLines.length, first: errorLines.slice(0, 5).map((l) => l.slice(0, 400)) },
      timeline: samples.map((s, i) => ({ s: Math.round((s.t - samples[0]!.t) / 1000), polls: i === 0 ? 0 : s.polls - samples[i - 1]!.polls, delivered: s.delivered, gwRssMiB: mib(s.gwRss) }))
    }
    await mkdir(join(ROOT, 'bench', 'results'), { recursive: true })
    await writeFile(join(ROOT, 'bench', 'results', 'exports-latest.json'), JSON.stringify(result, null, 2) + '\n')

    const w = result.webhooks
    const rows: Array<[string, string]> = [
      ['exports submitted (202)', `${result.submit.ok} of ${N}, ${result.submit.failed} failed`],
      ['submit: all / rate / p50 / p99', `${result.submit.totalS} s / ${result.submit.perS} per s / ${result.submit.p50Ms} ms / ${result.submit.p99Ms} ms`],
      ['upstream render polls: max 1-s window / mean (bound)', `${result.polls.maxPerS} / ${result.polls.meanPerS} per s (${POLL_RATE} per s)`],
      ['render polls: total / per export / 1-s windows > bound+10%', `${totalPolls} / ${result.polls.perExport} / ${result.polls.overBoundWindows}`],
      ['webhooks: exports covered / deliveries', `${w.exportsCovered} of ${expected} / ${w.deliveries}${timedOut ? ' (timed out)' : ''}`],
      ['webhooks: verified / failed verification / duplicate webhook-ids', `${w.verified} / ${w.failedVerification} / ${w.duplicates}`],
      ['webhook deliveries per s (over the delivery window)', `${w.perS} (${w.deliveryWindowS} s)`],
      ['last submit → last delivery', `${w.lastSubmitToLastDeliveryS} s`],
      ['gateway RSS idle / peak / after', `${result.memoryMiB.gatewayIdle} / ${result.memoryMiB.gatewayPeak} / ${result.memoryMiB.gatewayAfter} MiB`],
      ['simulator RSS peak', `${result.memoryMiB.simulatorPeak} MiB`],
      ['gateway stderr lines (LOG_LEVEL=warn)', String(errorLines.length)],
      ['backup (admin CLI, gateway running): in command / wall / file / rows', `${life.backup.ms} ms / ${life.backup.wallS} s / ${(life.backup.bytes / 1024).toFixed(0)} KiB / ${life.backup.rows}`],
      [`restore into an empty ${life.restore.into} database: in command / wall`, `${life.restore.ms} ms / ${life.restore.wallS} s`],
      ['pruning pass (every finished row old): pass / wall / statements', `${life.prune.ms} ms / ${life.prune.wallS} s / ${life.prune.batches}`],
      ['pruning pass: rows deleted', Object.entries(life.prune.deleted).filter(([, n]) => n > 0).map(([k, n]) => `${k} ${n}`).join(', ')]
    ]
    const m = result.machine
    console.log(`\n${m.cores} x ${m.cpu}, Node ${m.node}, commit ${m.commit}, ${m.date}, load ${m.loadavg.join(' ')}, database: ${m.database}\n`)
    console.log('| measure | value |\n| --- | --- |\n' + rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n'))
    if (errorLines.length > 0) console.log(`\ngateway stderr (first lines):\n${result.gatewayStderr.first.join('\n')}`)
    console.log('\nwritten to bench/results/exports-latest.json')
  } finally {
    await scope.close()
  }
}

// ---- many endpoints, some slow ----

type Behaviour = 'healthy' | 'trickle' | 'hang'

interface Endpoint {
  index: number
  behaviour: Behaviour
  url: string
  id: string
  secret: string
  /** POSTs that reached this receiver (attempts as the receiver saw them). */
  requests: number
  ids: Set<string>
  duplicates: number
  verified: number
  failedVerify: number
  /** Arrival here minus the payload's data.completedAt, first arrival of each webhook-id. */
  latencies: number[]
  lastArrival: number
  close: () => void
}

/**
 * A receiver on a port of its own. healthy: verifies, answers 204. trickle: 200 and its headers
 * at once, then one byte a second for TRICKLE_S. hang: reads the request, never answers.
 */
async function startEndpoint (index: number, behaviour: Behaviour): Promise<Endpoint> {
  const e: Endpoint = { index, behaviour, url: '', id: '', secret: '', requests: 0, ids: new Set(), duplicates: 0, verified: 0, failedVerify: 0, latencies: [], lastArrival: 0, close: () => {} }
  const timers = new Set<NodeJS.Timeout>()
  const trickle = (res: ServerResponse): void => {
    res.writeHead(200, { 'content-type': 'text/plain' })
    res.flushHeaders()
    let sent = 0
    const timer = setInterval(() => {
      if (++sent >= TRICKLE_S) { clearInterval(timer); timers.delete(timer); res.end('.') } else res.write('.')
    }, 1000)
    timers.add(timer)
    res.on('close', () => { clearInterval(timer); timers.delete(timer) })
  }
  const server: Server = createHttpServer((req, res) => {
    e.requests++
    if (behaviour === 'hang') { req.resume(); return }
    if (behaviour === 'trickle') { req.resume(); trickle(res); return }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const at = Date.now()
      const body = Buffer.concat(chunks).toString('utf8')
      try {
        new Webhook(e.secret).verify(body, req.headers as Record<string, string>)
        e.verified++
      } catch {
        e.failedVerify++
      }
      const id = String(req.headers['webhook-id'])
      if (e.ids.has(id)) {
        e.duplicates++
      } else {
        e.ids.add(id)
        const msg = JSON.parse(body) as { type: string, data: { completedAt?: string | null } }
        if (msg.type === 'export.completed' && typeof msg.data.completedAt === 'string') e.latencies.push(at - Date.parse(msg.data.completedAt))
      }
      e.lastArrival = at
      res.writeHead(204).end()
    })
  })
  // the gateway cuts its attempts; nothing here should cut them first
  server.requestTimeout = 0
  server.keepAliveTimeout = 60_000
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  e.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks/${index}`
  e.close = () => { for (const t of timers) clearInterval(t); server.closeAllConnections(); server.close() }
  return e
}

/** Every message of an endpoint, through the tenant's API (newest first, 100 a page). */
async function endpointMessages (stack: Stack, endpointId: string): Promise<Array<{ status: string, attempts: number, payload: { data?: { completedAt?: string | null } } }>> {
  const all = []
  let cursor: string | null = null
  do {
    const page: any = await call('GET', `${stack.gwUrl}/v1/webhooks/endpoints/${endpointId}/messages?limit=100${cursor === null ? '' : `&cursor=${encodeURIComponent(cursor)}`}`, stack.auth)
    all.push(...page.items)
    cursor = page.nextCursor
  } while (cursor !== null)
  return all
}

const ms = (x: number): number => Math.round(x)
const latencyStats = (xs: number[]): { p50: number, p99: number, max: number } => {
  const s = [...xs].sort((a, b) => a - b)
  return { p50: ms(pct(s, 0.5)), p99: ms(pct(s, 0.99)), max: ms(s.at(-1) ?? NaN) }
}

interface ScenarioResult {
  scenario: 'healthy' | 'slow'
  round: number
  endpoints: { healthy: number, trickle: number, hang: number }
  submit: { ok: number, failed: number, totalS: number, p50Ms: number, p99Ms: number }
  exportsCompletedS: number | null
  healthy: {
    expected: number
    delivered: number
    deliveries: number
    duplicates: number
    failedVerification: number
    latencyMs: { p50: number, p99: number, max: number }
    /** Not delivered when the wait ended: their wait so far (a lower bound of their latency). */
    undelivered: number
    undeliveredWaitedMs: { p50: number, p99: number, max: number } | null
    /** Delivered and undelivered together, the undelivered at their wait so far (lower bounds). */
    latencyAllMs: { p50: number, p99: number, max: number } | null
    lastCompletionToLastDeliveryS: number | null
    timedOut: boolean
    waitedS: number
  }
  slow: {
    requestsSeen: { trickle: number, hang: number }
    attemptsRecorded: { trickle: number, hang: number }
    messages: Record<string, Record<string, number>>
    deadlineCutLogLines: number
  }
  gatewayRssMiB: { idle: number, peak: number }
  gatewayWarnLines: number
  timeline: Array<{ s: number, healthyDelivered: number, gwRssMiB: number }>
}

async function runScenario (scenario: 'healthy' | 'slow', round: number): Promise<{ result: ScenarioResult, database: string }> {
  const scope = new Scope()
  try {
    const slowCount = scenario === 'slow' ? Math.max(1, Math.round(ENDPOINTS * SLOW_SHARE)) : 0
    // the slow ones spread over the list (endpoint creation order), trickle and hang in turn
    const step = slowCount > 0 ? ENDPOINTS / slowCount : 0
    const slowAt = new Map<number, Behaviour>(Array.from({ length: slowCount }, (_, k) => [Math.floor(k * step), k % 2 === 0 ? 'trickle' : 'hang']))
    console.error(`round ${round}, scenario ${scenario}: ${ENDPOINTS} endpoints, ${slowCount} slow (${[...slowAt.values()].join(', ') || 'none'}), gateway from ${GW_DIR}`)
    const stack = await startStack(scope)
    const { gateway, gwPid } = stack
    const endpoints: Endpoint[] = []
    for (let i = 0; i < ENDPOINTS; i++) {
      const e = await startEndpoint(i, slowAt.get(i) ?? 'healthy')
      scope.defer(() => e.close())
      const created = await call('POST', `${stack.gwUrl}/v1/webhooks/endpoints`, stack.auth, { url: e.url, description: `bench ${e.behaviour} ${i}` })
      e.id = created.id
      e.secret = created.secret
      endpoints.push(e)
    }
    const healthy = endpoints.filter((e) => e.behaviour === 'healthy')
    const delivered = (): number => healthy.reduce((n, e) => n + e.latencies.length, 0)
    await sleep(2000)
    const rssIdle = await rss(gwPid)
    await writeFile(`/proc/${gwPid}/clear_refs`, '5').catch(() => {}) // resets VmHWM, the kernel's peak
    const sampler = await startSampler(stack, delivered)
    const samples = sampler.samples

    const { latencies, failures, submitStart, submitEnd } = await submitExports(stack)
    const okExports = N - failures.length
    const expected = okExports * healthy.length
    console.error(`  submitted ${N} in ${((submitEnd - submitStart) / 1000).toFixed(1)} s (${failures.length} failed); waiting for ${expected} healthy deliveries`)
    const deadline = Date.now() + TIMEOUT_MS
    let lastLog = Date.now()
    while (delivered() < expected && Date.now() < deadline && gateway.proc.exitCode === null) {
      await sleep(250)
      if (Date.now() - lastLog > 10_000) { lastLog = Date.now(); console.error(`  ${delivered()}/${expected} healthy deliveries, gateway RSS ${mib(await rss(gwPid))} MiB`) }
    }
    const waitEnd = Date.now()
    const timedOut = delivered() < expected
    // late duplicates would show up here; and attempts on slow endpoints reach their deadline
    await sleep(slowCount > 0 ? Math.max(3000, SETTLE_MS) : 3000)
    await sampler.stop()
    const rssPeak = Math.max(...samples.map((s) => s.gwRss), await rss(gwPid, 'VmHWM'))

    // what the gateway recorded: pending healthy messages (their wait so far), slow attempts
    const now = Date.now()
    const waited: number[] = []
    const completions: number[] = []
    for (const e of healthy) {
      for (const m of await endpointMessages(stack, e.id)) {
        const completedAt = m.payload.data?.completedAt
        if (typeof completedAt !== 'string') continue
        completions.push(Date.parse(completedAt))
        if (m.status !== 'delivered') waited.push(now - Date.parse(completedAt))
      }
    }
    const attemptsRecorded = { trickle: 0, hang: 0 }
    const requestsSeen = { trickle: 0, hang: 0 }
    const messages: Record<string, Record<string, number>> = {}
    for (const e of endpoints.filter((x) => x.behaviour !== 'healthy')) {
      const b = e.behaviour as 'trickle' | 'hang'
      requestsSeen[b] += e.requests
      for (const m of await endpointMessages(stack, e.id)) {
        attemptsRecorded[b] += m.attempts
        const byStatus = messages[b] ??= {}
        byStatus[m.status] = (byStatus[m.status] ?? 0) + 1
      }
    }
    const allLatencies = healthy.flatMap((e) => e.latencies)
    const lastDelivery = Math.max(0, ...healthy.map((e) => e.lastArrival))
    const lastCompletion = completions.length > 0 ? Math.max(...completions) : NaN
    const firstCompletion = completions.length > 0 ? Math.min(...completions) : NaN
    const sortedSubmit = [...latencies].sort((a, b) => a - b)
    const result: ScenarioResult = {
      scenario,
      round,
      endpoints: { healthy: healthy.length, trickle: endpoints.filter((e) => e.behaviour === 'trickle').length, hang: endpoints.filter((e) => e.behaviour === 'hang').length },
      submit: { ok: okExports, failed: failures.length, totalS: +((submitEnd - submitStart) / 1000).toFixed(2), p50Ms: ms(pct(sortedSubmit, 0.5)), p99Ms: ms(pct(sortedSubmit, 0.99)) },
      exportsCompletedS: Number.isNaN(lastCompletion) ? null : +((lastCompletion - firstCompletion) / 1000).toFixed(1),
      healthy: {
        expected,
        delivered: delivered(),
        deliveries: healthy.reduce((n, e) => n + e.verified + e.failedVerify, 0),
        duplicates: healthy.reduce((n, e) => n + e.duplicates, 0),
        failedVerification: healthy.reduce((n, e) => n + e.failedVerify, 0),
        latencyMs: latencyStats(allLatencies),
        undelivered: waited.length,
        undeliveredWaitedMs: waited.length === 0 ? null : latencyStats(waited),
        latencyAllMs: waited.length === 0 ? null : latencyStats([...allLatencies, ...waited]),
        lastCompletionToLastDeliveryS: lastDelivery === 0 || Number.isNaN(lastCompletion) ? null : +((lastDelivery - lastCompletion) / 1000).toFixed(1),
        timedOut,
        waitedS: +((waitEnd - submitEnd) / 1000).toFixed(1)
      },
      slow: { requestsSeen, attemptsRecorded, messages, deadlineCutLogLines: gateway.count('cut at its deadline') },
      gatewayRssMiB: { idle: mib(rssIdle), peak: mib(rssPeak) },
      gatewayWarnLines: gateway.count('"level":'),
      timeline: samples.map((s) => ({ s: Math.round((s.t - samples[0]!.t) / 1000), healthyDelivered: s.delivered, gwRssMiB: mib(s.gwRss) }))
    }
    console.error(`  ${result.healthy.delivered}/${expected} healthy deliveries, p50 ${result.healthy.latencyMs.p50} ms, p99 ${result.healthy.latencyMs.p99} ms${timedOut ? ` (timed out, ${waited.length} undelivered)` : ''}`)
    return { result, database: stack.database }
  } finally {
    await scope.close()
  }
}

async function runMulti (): Promise<void> {
  const results: ScenarioResult[] = []
  let databaseKind = 'unknown'
  for (let round = 1; round <= ROUNDS; round++) {
    const order = round % 2 === 1 ? SCENARIOS : [...SCENARIOS].reverse()
    for (const s of order as Array<'healthy' | 'slow'>) {
      const { result, database } = await runScenario(s, round)
      results.push(result)
      databaseKind = database
    }
  }
  const m = await machine(databaseKind)
  const label = args.label ?? (GW_DIR === ROOT ? 'latest' : `dir-${m.commit.split('+')[0]}`)
  const report = {
    machine: m,
    config: {
      exports: N,
      endpoints: ENDPOINTS,
      tenants: 1,
      slowShare: SLOW_SHARE,
      trickleS: TRICKLE_S,
      settleS: SETTLE_MS / 1000,
      renderMs: RENDER_MS,
      pollRateBound: POLL_RATE,
      submitConcurrency: CONCURRENCY,
      timeoutS: TIMEOUT_MS / 1000,
      rounds: ROUNDS,
      gatewayEnv: Object.fromEntries(['WEBHOOK_TIMEOUT_MS', 'WEBHOOK_CONCURRENCY', 'WEBHOOK_ENDPOINT_CONCURRENCY'].map((k) => [k, process.env[k] ?? 'default']))
    },
    scenarios: results
  }
  const dir = join(ROOT, 'bench', 'results')
  await mkdir(dir, { recursive: true })
  const file = join(dir, `exports-webhooks-${label}.json`)
  await writeFile(file, JSON.stringify(report, null, 2) + '\n')

  const lat = (l: { p50: number, p99: number, max: number } | null): string => l === null ? '-' : `${l.p50} / ${l.p99} / ${l.max}`
  const rows = results.map((r) => {
    const h = r.healthy
    return [
      (r.scenario === 'healthy' ? 'all healthy' : `${r.endpoints.trickle + r.endpoints.hang} slow (${r.endpoints.trickle} trickle, ${r.endpoints.hang} hang)`) + (ROUNDS > 1 ? `, round ${r.round}` : ''),
      m.commit,
      `${h.delivered} of ${h.expected}${h.timedOut ? ` (timed out after ${h.waitedS} s)` : ''}`,
      lat(h.latencyMs),
      h.undelivered === 0 ? '0' : `${h.undelivered} (waited ${lat(h.undeliveredWaitedMs)})`,
      String(h.duplicates),
      r.endpoints.trickle + r.endpoints.hang === 0 ? '-' : `${r.slow.attemptsRecorded.trickle} / ${r.slow.attemptsRecorded.hang} (seen ${r.slow.requestsSeen.trickle} / ${r.slow.requestsSeen.hang})`,
      r.endpoints.trickle + r.endpoints.hang === 0 ? '-' : String(r.slow.deadlineCutLogLines),
      `${r.gatewayRssMiB.idle} / ${r.gatewayRssMiB.peak}`
    ]
  })
  console.log(`\n${m.cores} x ${m.cpu}, Node ${m.node}, gateway ${m.commit} (${m.gatewayDir}), bench ${m.benchCommit}, ${m.date}, load ${m.loadavg.join(' ')}, database: ${m.database}`)
  console.log(`${N} exports (renders ${RENDER_MS} ms) of one tenant with ${ENDPOINTS} endpoints: one message per export and endpoint; latency = arrival - data.completedAt, ms\n`)
  console.log([
    '| endpoints | gateway | healthy delivered | healthy latency p50 / p99 / max, ms | healthy undelivered at the end | duplicates | slow attempts recorded, trickle / hang (POSTs seen) | "cut at its deadline" log lines | gateway RSS idle / peak, MiB |',
    '| --- | --- | --- | --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`)
  ].join('\n'))
  if (ROUNDS > 1) {
    const median = (xs: number[]): number => { const o = [...xs].sort((a, b) => a - b); const h = o.length / 2; return Math.round(o.length % 2 === 1 ? o[Math.floor(h)]! : (o[h - 1]! + o[h]!) / 2) }
    console.log('\nmedian over the rounds (healthy endpoints, delivered only):')
    for (const s of SCENARIOS) {
      const rs = results.filter((r) => r.scenario === s)
      console.log(`- ${s}: p50 ${median(rs.map((r) => r.healthy.latencyMs.p50))} ms, p99 ${median(rs.map((r) => r.healthy.latencyMs.p99))} ms, max ${Math.max(...rs.map((r) => r.healthy.latencyMs.max))} ms`)
    }
  }
  console.log(`\nwritten to ${file}`)
}

async function main (): Promise<void> {
  if (MULTI) await runMulti()
  else await runSingle()
}

await main()
