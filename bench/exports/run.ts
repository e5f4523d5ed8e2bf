// `npm run bench:exports [-- --exports 1000 --poll-rate 50 --concurrency 32 --render-ms 20000]`
//
// 1,000 exports (render jobs) in flight through the gateway against the simulator: the
// upstream render-poll rate must stay under EXPORT_POLL_RATE however many are waiting, every
// export must end in exactly one verified webhook, and the gateway's memory must not climb.
// The simulator and the gateway are child processes (pinned to different cores with taskset
// when it exists); their memory is read from /proc/<pid>/status. The poll rate comes from the
// simulator's own counters (GET /__sim/counters), sampled every second. Not part of `npm test`.
// DATABASE_URL, when set, is used as is; else a throwaway database on the local Postgres, else
// the gateway's embedded Postgres in a temporary directory.
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer as createHttpServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { Webhook } from 'standardwebhooks'
import { request } from 'undici'
import { freePort } from '../free-port.ts'

const { values: args } = parseArgs({
  options: {
    exports: { type: 'string', default: '1000' },
    'poll-rate': { type: 'string', default: '50' },
    concurrency: { type: 'string', default: '32' },
    'render-ms': { type: 'string', default: '20000' },
    'timeout-s': { type: 'string', default: '300' }
  }
})
const N = Number(args.exports)
const POLL_RATE = Number(args['poll-rate'])
const CONCURRENCY = Number(args.concurrency)
const RENDER_MS = Number(args['render-ms'])
const TIMEOUT_MS = Number(args['timeout-s']) * 1000
const MiB = 1024 * 1024
const sleep = async (ms: number): Promise<void> => await new Promise((resolve) => setTimeout(resolve, ms))

// ---- processes ----

interface Child { name: string, proc: ChildProcess, stderr: string[], tail: () => string }

const TASKSET = ['/usr/bin/taskset', '/bin/taskset'].find((p) => existsSync(p))

function start (name: string, core: number, nodeArgs: string[], env: Record<string, string>): Child {
  const argv = [process.execPath, ...nodeArgs]
  const [cmd, ...rest] = TASKSET !== undefined && cpus().length > 1 ? [TASKSET, '-c', String(core), ...argv] : argv
  // taskset execs node in place: the pid is node's
  const proc = spawn(cmd!, rest, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let tail = ''
  const stderr: string[] = []
  proc.stdout?.on('data', (c: Buffer) => { tail = (tail + c.toString()).slice(-8000) })
  proc.stderr?.on('data', (c: Buffer) => { tail = (tail + c.toString()).slice(-8000); stderr.push(c.toString()) })
  proc.on('exit', (code, signal) => { if (code !== 0 && signal === null) console.error(`${name} exited with ${code}:\n${tail}`) })
  return { name, proc, stderr, tail: () => tail }
}

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

async function main (): Promise<void> {
  const work = await mkdtemp(join(tmpdir(), 'ngw-bench-exports-'))
  const adminToken = randomBytes(16).toString('hex')
  let sim: Child | undefined
  let gateway: Child | undefined
  let receiver: Receiver | undefined
  let drop: (() => Promise<void>) | undefined
  let cleaning: Promise<void> | undefined
  const cleanup = async (): Promise<void> => await (cleaning ??= (async () => {
    receiver?.close()
    await Promise.all([stop(gateway), stop(sim)])
    await drop?.().catch((err: unknown) => console.error(`could not drop the bench database: ${(err as Error).message}`))
    await rm(work, { recursive: true, force: true })
  })())
  const onSignal = (): void => { cleanup().finally(() => process.exit(130)) }
  process.once('SIGINT', onSignal).once('SIGTERM', onSignal)
  // a crash that skips `finally` must not leave them running (a no-op once they have exited)
  process.once('exit', () => { gateway?.proc.kill('SIGKILL'); sim?.proc.kill('SIGKILL') })
  try {
    const [simPort, gwPort] = [await freePort(), await freePort()]
    const simUrl = `http://127.0.0.1:${simPort}`
    const gwUrl = `http://127.0.0.1:${gwPort}`
    const db = await database()
    drop = db.drop
    // written as in a shell: KEY=value, no spaces in the values
    const env = (text: string): Record<string, string> => Object.fromEntries(text.trim().split(/\s+/).map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]))
    sim = start('simulator', 0, ['--import=tsx', 'src/simulator/server.ts'], env(`
      SIM_PORT=${simPort} SIM_HOST=127.0.0.1 SIM_LOG_LEVEL=warn SIM_RENDER_DURATION_MS=${RENDER_MS}
      SIM_MINT_LIMIT_PER_IP=1000000 SIM_STEP_DELAY_MS=1 SIM_GENERATION_MS=20`))
    gateway = start('gateway', 1, ['--import=tsx', '--import=./src/telemetry.ts', 'src/server.ts'], env(`
      PORT=${gwPort} HOST=127.0.0.1 LOG_LEVEL=warn NEMO_BASE_URL=${simUrl} ADMIN_TOKEN=${adminToken}
      ENCRYPTION_KEY=${process.env.ENCRYPTION_KEY ?? randomBytes(32).toString('hex')} FIRST_RUN_TENANT=false DATA_DIR=${work}
      RATE_LIMIT_MAX=1000000 EXPORT_POLL_INITIAL_MS=2000 EXPORT_POLL_MAX_MS=4000 EXPORT_POLL_RATE=${POLL_RATE}
      JOBS_POLL_INTERVAL_MS=500 WEBHOOK_ALLOWED_CIDRS=127.0.0.0/8 WEBHOOK_POLL_MS=100 MAX_EVENT_LOOP_DELAY_MS=0
      ${db.url === undefined ? '' : `DATABASE_URL=${db.url}`}`))
    await waitReady(`${simUrl}/__sim/counters`, sim)
    await waitReady(`${gwUrl}/health/ready`, gateway)
    const gwPid = gateway.proc.pid!
    const simPid = sim.proc.pid!

    // a tenant, a key, a verified webhook receiver, a session with something to render
    const adminAuth = { authorization: `Bearer ${adminToken}` }
    const tenant = await call('POST', `${gwUrl}/admin/v1/tenants`, adminAuth, { name: 'bench-exports' })
    const { key } = await call('POST', `${gwUrl}/admin/v1/tenants/${tenant.id}/keys`, adminAuth, { name: 'bench' })
    const auth = { authorization: `Bearer ${key}`, 'x-user-id': 'u1' }
    const hooks = receiver = await startReceiver()
    hooks.secret = (await call('POST', `${gwUrl}/v1/webhooks/endpoints`, auth, { url: hooks.url })).secret
    const session = await call('POST', `${gwUrl}/v1/sessions`, auth, {})
    const turn = await call('POST', `${gwUrl}/v1/sessions/${session.id}/turns`, auth, { text: '[scenario:generation] make a video' })
    for (let t = turn, i = 0; t.status === 'running'; await sleep(100)) {
      if (++i > 600) throw new Error('the generation turn did not finish in a minute')
      t = await call('GET', `${gwUrl}/v1/sessions/${session.id}/turns/${turn.id}`, auth)
    }
    await sleep(2000)
    const rssIdle = await rss(gwPid)
    await writeFile(`/proc/${gwPid}/clear_refs`, '5').catch(() => {}) // resets VmHWM, the kernel's peak

    // sampled every second from before the first submit: upstream polls, RSS, deliveries
    const counters = async (): Promise<number> => (await call('GET', `${simUrl}/__sim/counters`, {})).requests['render-poll'] as number
    const samples: Array<{ t: number, polls: number, gwRss: number, simRss: number, delivered: number }> = []
    const sample = async (): Promise<void> => { samples.push({ t: Date.now(), polls: await counters(), gwRss: await rss(gwPid), simRss: await rss(simPid), delivered: hooks.exportIds.size }) }
    await sample()
    const sampling = { on: true }
    const sampler = (async () => { while (sampling.on) { await sleep(1000 - ((Date.now() - samples[0]!.t) % 1000)); await sample() } })()
      .catch((err: unknown) => console.error(`sampling stopped: ${(err as Error).message}`))

    // N exports of the one session, CONCURRENCY at a time
    const latencies: number[] = []
    const failures: string[] = []
    const submitStart = Date.now()
    let next = 0
    await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
      while (next < N) {
        next++
        const t0 = performance.now()
        const res = await request(`${gwUrl}/v1/sessions/${session.id}/exports`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: '{}' })
        const text = await res.body.text()
        latencies.push(performance.now() - t0)
        if (res.statusCode !== 202) failures.push(`${res.statusCode} ${text.slice(0, 200)}`)
      }
    }))
    const submitEnd = Date.now()
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
    sampling.on = false
    await sampler
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

    const result = {
      machine: {
        cores: cpus().length,
        cpu: /^model name\s*:\s*(.*)$/m.exec(await readFile('/proc/cpuinfo', 'utf8').catch(() => ''))?.[1] ?? cpus()[0]?.model ?? 'unknown',
        node: process.version,
        commit: execFileSync('git', ['rev-parse', '--short', 'HEAD'], { encoding: 'utf8' }).trim(),
        date: new Date().toISOString(),
        loadavg: loadavg().map((l) => +l.toFixed(2)),
        pinned: TASKSET !== undefined && cpus().length > 1,
        database: db.url === undefined ? 'embedded' : db.drop === undefined ? 'DATABASE_URL' : 'throwaway on 127.0.0.1:5432'
      },
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
      memoryMiB: { gatewayIdle: mib(rssIdle), gatewayPeak: mib(rssPeak), gatewayAfter: mib(rssAfter), simulatorPeak: mib(Math.max(...samples.map((s) => s.simRss))) },
      gatewayStderr: { lines: errorLines.length, first: errorLines.slice(0, 5).map((l) => l.slice(0, 400)) },
      timeline: samples.map((s, i) => ({ s: Math.round((s.t - samples[0]!.t) / 1000), polls: i === 0 ? 0 : s.polls - samples[i - 1]!.polls, delivered: s.delivered, gwRssMiB: mib(s.gwRss) }))
    }
    await mkdir('bench/results', { recursive: true })
    await writeFile('bench/results/exports-latest.json', JSON.stringify(result, null, 2) + '\n')

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
      ['gateway stderr lines (LOG_LEVEL=warn)', String(errorLines.length)]
    ]
    const m = result.machine
    console.log(`\n${m.cores} x ${m.cpu}, Node ${m.node}, commit ${m.commit}, ${m.date}, load ${m.loadavg.join(' ')}, database: ${m.database}\n`)
    console.log('| measure | value |\n| --- | --- |\n' + rows.map(([k, v]) => `| ${k} | ${v} |`).join('\n'))
    if (errorLines.length > 0) console.log(`\ngateway stderr (first lines):\n${result.gatewayStderr.first.join('\n')}`)
    console.log('\nwritten to bench/results/exports-latest.json')
  } finally {
    await cleanup()
  }
}

await main()
