// `npm run bench [-- --duration 8 --rounds 3 --connections 32]`: the hot path, side by side.
//
// The simulator and the gateway run as separate processes from the compiled build (`dist/`),
// pinned with taskset where it exists (the gateway on CPU 0; the simulator and this load
// generator on CPU 1). Each case is measured against the simulator directly and through the
// gateway, the cells interleaved (direct, gateway, direct, gateway ...) over several rounds,
// with autocannon; medians with min and max. Writes bench/results/latest.json and the tables
// between the bench markers of bench/README.md. Not part of `npm test`.
import { spawnSync } from 'node:child_process'
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import autocannon from 'autocannon'
import pg from 'pg'
import { request } from 'undici'
import { freePort } from './free-port.ts'
import { json, pin, pinSelf, root, start, stat, stop, taskset, until, type Child } from './lib.ts'
import { measureDb, type DbReport } from './db.ts'

const { values: args } = parseArgs({
  options: {
    duration: { type: 'string', default: '8' },
    rounds: { type: 'string', default: '3' },
    connections: { type: 'string', default: '32' },
    /** Every case briefly (2 s cells, 1 round): a smoke run; files are written as usual. */
    quick: { type: 'boolean', default: false },
    /** The hot path only: not the streams, start, upload and export benchmarks after it. */
    hot: { type: 'boolean', default: false },
    /** Only the cases whose name contains this (a quick look at one case; no files written). */
    only: { type: 'string' },
    /** Only the soak: 2,000 turns across 20 sessions, memory every 100 turns (bench/soak.ts). */
    soak: { type: 'boolean', default: false },
    /** Only the concurrency curve of chat turns (bench/streams/turns.ts); --sizes, --steady, --pg-cpus and --baseline go to it. */
    'turns-curve': { type: 'boolean', default: false },
    /** Only one tenant's burst against another tenant's turn (bench/streams/fairness.ts); --baseline goes to it. */
    fairness: { type: 'boolean', default: false },
    sizes: { type: 'string' },
    steady: { type: 'string' },
    'pg-cpus': { type: 'string' },
    baseline: { type: 'string' }
  }
})
const QUICK = args.quick === true
const DURATION = QUICK ? 2 : Number(args.duration)
const ROUNDS = QUICK ? 1 : Number(args.rounds)
const CONNECTIONS = Number(args.connections)
const OFFERED_RATE = 1000

/** Extra node flags for the gateways, e.g. GW_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof". */
const gwNodeArgs = (process.env.GW_NODE_ARGS ?? '').split(' ').filter(Boolean)
pinSelf()

interface Cell { rps: number, p50: number, p99: number, errors: number, non2xx: number, cpuUs: number }

/** CPU seconds (user + system) a process has used, from /proc (0 where there is none). */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (stat === null) return 0
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in clock ticks of 10 ms
}

/**
 * One autocannon cell. `cpuUs` is the CPU time the serving process spent per request: unlike
 * throughput it does not depend on what else the machine is doing, so it is the figure to
 * compare between runs on a busy machine.
 */
async function cell (url: string, headers: Record<string, string>, pid: number, rate?: number): Promise<Cell> {
  const cpuBefore = await cpuSeconds(pid)
  const r = await autocannon({ url, headers, connections: CONNECTIONS, duration: DURATION, ...(rate !== undefined ? { overallRate: rate } : {}) })
  const cpuUs = (await cpuSeconds(pid) - cpuBefore) * 1e6 / Math.max(1, r.requests.total)
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.timeouts, non2xx: r.non2xx, cpuUs }
}

async function main (): Promise<void> {
  const build = spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('build failed')
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-bench-'))
  const children: Child[] = []
  try {
    const simPort = await freePort()
    const sim = start(pin(1, [process.execPath, 'dist/simulator/server.js']), { SIM_PORT: String(simPort), SIM_LOG_LEVEL: 'warn', SIM_MINT_LIMIT_PER_IP: '100000', SIM_MINT_LIMIT_PER_CLIENT: '100000' })
    children.push(sim)
    const simUrl = `http://127.0.0.1:${simPort}`
    await until('simulator', sim, async () => (await request(`${simUrl}/__sim/counters`)).statusCode === 200 ? true : undefined)

    const gwEnv = { NEMO_BASE_URL: simUrl, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000000', MINT_LIMIT_PER_IP: '100000' }
    const gwPort = await freePort()
    const gw = start(pin(0, [process.execPath, ...gwNodeArgs, '--import=./dist/telemetry.js', 'dist/server.js']), { ...gwEnv, DATA_DIR: dataDir, PORT: String(gwPort) })
    children.push(gw)
    const gwUrl = `http://127.0.0.1:${gwPort}`
    const key = await until('gateway', gw, async () => /Bearer (ngw_\S+)"/.exec(gw.out())?.[1])
    const as = { authorization: `Bearer ${key}`, 'x-user-id': 'bench' }
    const session = await json(`${gwUrl}/v1/sessions`, { method: 'POST', headers: as, body: {} })
    await json(`${gwUrl}/v1/credits`, { headers: as })
    // the same user through a client token, as a browser would call
    const clientToken = (await json(`${gwUrl}/v1/client-tokens`, { method: 'POST', headers: as, body: { ttlSeconds: 86400 } })).token as string
    const asClient = { authorization: `Bearer ${clientToken}` }

    // a second gateway on the same database with the balance cache off
    const pgPort = (await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]!.trim()
    const pgPassword = (await readFile(join(dataDir, 'pg-password'), 'utf8')).trim()
    const encryptionKey = (await readFile(join(dataDir, 'encryption.key'), 'utf8')).trim()
    const dbUrl = `postgres://postgres:${encodeURIComponent(pgPassword)}@127.0.0.1:${pgPort}/postgres`
    const uncachedPort = await freePort()
    const uncached = start(pin(0, [process.execPath, ...gwNodeArgs, '--import=./dist/telemetry.js', 'dist/server.js']), {
      ...gwEnv,
      PORT: String(uncachedPort),
      CREDITS_CACHE_TTL_MS: '0',
      ENCRYPTION_KEY: encryptionKey,
      DATABASE_URL: dbUrl
    })
    children.push(uncached)
    const uncachedUrl = `http://127.0.0.1:${uncachedPort}`
    await until('uncached gateway', uncached, async () => (await request(`${uncachedUrl}/health/ready`)).statusCode === 200 ? true : undefined)

    // a third gateway on the same database exporting its spans over OTLP/HTTP to a receiver in
    // this process that accepts and drops them: what tracing costs, against the first gateway
    const otlp = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(200, { 'content-type': 'application/json' }).end('{}')) }).listen(0, '127.0.0.1')
    await once(otlp, 'listening')
    const tracedPort = await freePort()
    const traced = start(pin(0, [process.execPath, ...gwNodeArgs, '--import=./dist/telemetry.js', 'dist/server.js']), {
      ...gwEnv,
      PORT: String(tracedPort),
      ENCRYPTION_KEY: encryptionKey,
      DATABASE_URL: dbUrl,
      OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(otlp.address() as AddressInfo).port}`
    })
    children.push(traced)
    const tracedUrl = `http://127.0.0.1:${tracedPort}`
    await until('traced gateway', traced, async () => (await request(`${tracedUrl}/health/ready`)).statusCode === 200 ? true : undefined)

    // direct: the simulator's own balance read with a token of its own
    const minted = await json(`${simUrl}/api/auth/anonymous-token`, { method: 'POST', headers: { 'x-client-id': 'bench-direct' } })
    const direct = { authorization: `Bearer ${minted.data.token}` }
    const simCredits = `${simUrl}/api/credits/balance/simple`

    const [simPid, gwPid, uncachedPid, tracedPid] = [sim, gw, uncached, traced].map((c) => c.proc.pid ?? 0) as [number, number, number, number]
    type Target = [url: string, headers: Record<string, string>, pid: number]
    // `direct` is the baseline of the ratio: the simulator itself, or (spans) the same gateway without spans
    const cases: Array<{ name: string, direct?: Target, gateway: Target, rate?: number }> = [
      { name: 'GET /v1/credits, balance cached, spans exported to OTLP, saturation (baseline: the same gateway without spans)', direct: [`${gwUrl}/v1/credits`, as, gwPid], gateway: [`${tracedUrl}/v1/credits`, as, tracedPid] },
      { name: 'GET /v1/credits, balance cached, saturation', direct: [simCredits, direct, simPid], gateway: [`${gwUrl}/v1/credits`, as, gwPid] },
      { name: 'GET /v1/credits, balance cached, client token, saturation', direct: [simCredits, direct, simPid], gateway: [`${gwUrl}/v1/credits`, asClient, gwPid] },
      { name: `GET /v1/credits, balance cached, offered ${OFFERED_RATE} req/s`, direct: [simCredits, direct, simPid], gateway: [`${gwUrl}/v1/credits`, as, gwPid], rate: OFFERED_RATE },
      { name: 'GET /v1/credits, not cached (CREDITS_CACHE_TTL_MS=0), saturation', direct: [simCredits, direct, simPid], gateway: [`${uncachedUrl}/v1/credits`, as, uncachedPid] },
      { name: 'GET /v1/sessions/:id, saturation', gateway: [`${gwUrl}/v1/sessions/${session.id}`, as, gwPid] },
      { name: 'GET /health/live, saturation', gateway: [`${gwUrl}/health/live`, {}, gwPid] }
    ]
    if (args.only !== undefined) cases.splice(0, cases.length, ...cases.filter((c) => c.name.includes(args.only!) || c.name.startsWith('GET /health/live')))
    // warm-up: every URL once, briefly
    // The second and third gateways share the first one's core: each is stopped (SIGSTOP) except
    // during its own cells, so its background work (job polls, sweeps) never lands in another's.
    const parked = new Map([[uncachedPid, uncached], [tracedPid, traced]])
    const only = async <T>(c: { gateway: Target }, work: () => Promise<T>): Promise<T> => {
      const child = parked.get(c.gateway[2])
      if (child === undefined) return await work()
      child.proc.kill('SIGCONT')
      try { return await work() } finally { child.proc.kill('SIGSTOP') }
    }
    for (const c of cases) {
      await only(c, async () => await autocannon({ url: c.gateway[0], headers: c.gateway[1], connections: 8, duration: 2 }))
      if (c.direct) await autocannon({ url: c.direct[0], headers: c.direct[1], connections: 8, duration: 2 })
    }
    uncached.proc.kill('SIGSTOP')
    traced.proc.kill('SIGSTOP')
    const cells: Record<string, { direct: Cell[], gateway: Cell[] }> = Object.fromEntries(cases.map((c) => [c.name, { direct: [], gateway: [] }]))
    for (let round = 1; round <= ROUNDS; round++) {
      for (const c of cases) {
        if (c.direct) cells[c.name]!.direct.push(await cell(...c.direct, c.rate))
        cells[c.name]!.gateway.push(await only(c, async () => await cell(...c.gateway, c.rate)))
        process.stderr.write(`round ${round}: ${c.name}\n`)
      }
    }
    uncached.proc.kill('SIGCONT')
    traced.proc.kill('SIGCONT')
    otlp.close()

    // Prisma against plain pg, on the gateway's database while the gateways are idle
    let db: DbReport | null = null
    if (args.only === undefined || 'db'.includes(args.only)) {
      const owner = await json(`${gwUrl}/v1/sessions/${session.id}`, { headers: as })
      const pgc = new pg.Client({ connectionString: dbUrl })
      await pgc.connect()
      const row = (await pgc.query('SELECT "tenantId", "userId" FROM "Session" WHERE id = $1::uuid', [owner.id])).rows[0] as { tenantId: string, userId: string }
      await pgc.end()
      db = await measureDb(dbUrl, { sessionId: session.id, ...row }, { queries: QUICK ? 1000 : 5000, concurrency: 32, pools: QUICK ? [10] : [5, 10, 20] })
      process.stderr.write('db: done\n')
    }

    const summary = cases.map((c) => {
      const s = cells[c.name]!
      const view = (xs: Cell[]) => xs.length === 0 ? null : { rps: stat(xs.map((x) => x.rps)), p50: stat(xs.map((x) => x.p50)), p99: stat(xs.map((x) => x.p99)), cpuUs: stat(xs.map((x) => x.cpuUs)), errors: xs.reduce((n, x) => n + x.errors + x.non2xx, 0) }
      const d = view(s.direct)
      const g = view(s.gateway)!
      return { case: c.name, direct: d, gateway: g, ratio: d === null ? null : g.rps.median / d.rps.median, addedP50: d === null ? null : g.p50.median - d.p50.median, addedP99: d === null ? null : g.p99.median - d.p99.median }
    })
    const health = summary.find((s) => s.case.startsWith('GET /health/live'))!.gateway.rps.median
    const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim()
    const report = {
      date: new Date().toISOString(),
      commit,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, taskset },
      settings: { durationS: DURATION, rounds: ROUNDS, connections: CONNECTIONS, offeredRate: OFFERED_RATE },
      cases: summary,
      db,
      creditsCachedVsHealth: (summary.find((s) => s.case.includes('cached, saturation'))?.gateway.rps.median ?? 0) / health,
      clientTokenVsApiKey: (summary.find((s) => s.case.includes('client token'))?.gateway.rps.median ?? 0) /
        (summary.find((s) => s.case === 'GET /v1/credits, balance cached, saturation')?.gateway.rps.median ?? 1)
    }
    if (args.only !== undefined) {
      if (db !== null) console.log(JSON.stringify(db, null, 1))
      console.log(`cached credits, client token vs API key: ${report.clientTokenVsApiKey.toFixed(2)}x`)
      for (const s of summary) console.log(`${s.case}: gateway ${s.gateway.rps.median.toFixed(0)} req/s p50 ${s.gateway.p50.median} p99 ${s.gateway.p99.median} ms, ${s.gateway.cpuUs.median.toFixed(0)} µs CPU/req${s.direct ? `; direct ${s.direct.rps.median.toFixed(0)} req/s p50 ${s.direct.p50.median} p99 ${s.direct.p99.median} ms, ${s.direct.cpuUs.median.toFixed(0)} µs CPU/req; ratio ${s.ratio!.toFixed(2)}` : ''}`)
      const metrics = await (await request(`${gwUrl}/metrics`)).body.text()
      console.log(metrics.split('\n').filter((l) => /event_loop|http_server_request_duration_count.*credits|upstream_request_duration_count/.test(l)).join('\n'))
      return
    }
    await mkdir(join(root, 'bench', 'results'), { recursive: true })
    await writeFile(join(root, 'bench', 'results', 'latest.json'), JSON.stringify(report, null, 2) + '\n')
    const range = (s: { median: number, min: number, max: number }, digits = 0) => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`
    const rows = summary.map((s) => `| ${s.case} | ${s.direct ? `${range(s.direct.rps)} req/s, p50 ${s.direct.p50.median} ms, p99 ${s.direct.p99.median} ms` : '-'} | ${range(s.gateway.rps)} req/s, p50 ${range(s.gateway.p50, 1)} ms, p99 ${range(s.gateway.p99, 1)} ms | ${s.ratio === null ? '-' : s.ratio.toFixed(2)} | ${s.addedP50 === null ? '-' : `+${s.addedP50.toFixed(1)} / +${s.addedP99!.toFixed(1)} ms`} | ${s.direct ? `${s.direct.cpuUs.median.toFixed(0)} / ` : ''}${range(s.gateway.cpuUs)} |`)
    const table = [
      `Run ${report.date} on commit ${commit}: ${report.machine.cores} cores (${report.machine.cpu}), Node ${process.version}, taskset ${taskset ? 'yes' : 'no'}; autocannon, ${CONNECTIONS} connections, ${DURATION} s cells, ${ROUNDS} rounds interleaved; medians (min-max).`,
      '',
      '| case | baseline: direct to the simulator (unless named) | through the gateway | ratio | added p50 / p99 | CPU µs per request (simulator / gateway) |',
      '| --- | --- | --- | --- | --- | --- |',
      ...rows,
      '',
      `Cached credits vs \`/health/live\` of the same gateway: ${report.creditsCachedVsHealth.toFixed(2)}x. Cached credits with a client token vs with an API key: ${report.clientTokenVsApiKey.toFixed(2)}x.`,
      ...(db === null
        ? []
        : [
            '',
        `The session read of \`GET /v1/sessions/:id\`, measured in the bench process on the gateway's database (sequential, after a warm-up; ${db.sequential.length} ways interleaved):`,
        '',
        '| way | latency p50 | CPU per query (client) |',
        '| --- | --- | --- |',
        ...db.sequential.map((w) => `| ${w.way} | ${w.seqUsP50.toFixed(0)} µs | ${w.cpuUsPerQuery.toFixed(0)} µs |`),
        '',
        `${db.concurrency} queries at a time, by pool size (queries/s):`,
        '',
        `| pool max | ${[...new Set(db.concurrent.map((c) => c.way))].join(' | ')} |`,
        `| --- | ${[...new Set(db.concurrent.map((c) => c.way))].map(() => '---').join(' | ')} |`,
        ...[...new Set(db.concurrent.map((c) => c.poolMax))].map((max) => `| ${max} | ${db!.concurrent.filter((c) => c.poolMax === max).map((c) => c.queriesPerSec.toFixed(0)).join(' | ')} |`)
          ])
    ].join('\n')
    const readmePath = join(root, 'bench', 'README.md')
    const readme = await readFile(readmePath, 'utf8')
    const marked = /<!-- bench:start -->[\s\S]*?<!-- bench:end -->/
    if (marked.test(readme)) await writeFile(readmePath, readme.replace(marked, `<!-- bench:start -->\n${table}\n<!-- bench:end -->`))
    process.stdout.write(table + '\n')
  } finally {
    for (const c of children.reverse()) await stop(c)
    await rm(dataDir, { recursive: true, force: true })
  }
}

/**
 * The other benchmarks, each its own script (and README section), run one after the other
 * in the same `npm run bench`: a full run here takes about 15 minutes.
 */
const SUITE: Array<{ name: string, argv: string[], quick: string[] }> = [
  { name: 'SSE relay', argv: ['bench/streams/relay.ts'], quick: ['--quick'] },
  { name: 'replay from cursor 0', argv: ['bench/streams/replay.ts'], quick: ['--quick'] },
  { name: '1,000 GraphQL subscribers', argv: ['bench/streams/subscribers.ts'], quick: ['--quick'] },
  { name: 'chat turns at once, N = 10 to 1,000', argv: ['bench/streams/turns.ts'], quick: ['--quick'] },
  { name: 'one tenant\'s burst, another tenant\'s turn', argv: ['bench/streams/fairness.ts'], quick: ['--burst', '100', '--rounds', '1'] },
  { name: 'start', argv: ['bench/start.ts'], quick: ['--quick'] },
  { name: 'uploads', argv: ['bench/upload/run.ts', '--sizes', '50,500', '--runs', '1'], quick: ['bench/upload/run.ts', '--sizes', '5', '--throttled-size', '5'] },
  { name: 'soak', argv: ['bench/soak.ts'], quick: ['bench/soak.ts', '--turns', '200', '--sessions', '10', '--every', '50', '--warmup', '50'] },
  { name: 'exports with webhooks', argv: ['bench/exports/run.ts', '--exports', '200', '--render-ms', '5000'], quick: ['bench/exports/run.ts', '--exports', '20', '--render-ms', '1000'] }
]

async function suite (): Promise<void> {
  const failed: string[] = []
  for (const b of SUITE) {
    const argv = QUICK ? (b.quick[0]?.startsWith('bench/') === true ? b.quick : [...b.argv, ...b.quick]) : b.argv
    process.stderr.write(`\n=== ${b.name}: ${argv.join(' ')}\n`)
    const run = spawnSync(process.execPath, ['--import=tsx', ...argv], { cwd: root, stdio: 'inherit', env: process.env })
    if (run.status !== 0) failed.push(b.name)
  }
  if (failed.length > 0) throw new Error(`these benchmarks failed: ${failed.join(', ')}`)
}

if (args['turns-curve']) {
  const passed = [...(args.sizes === undefined ? [] : ['--sizes', args.sizes]), ...(args.steady === undefined ? [] : ['--steady', args.steady]), ...(args['pg-cpus'] === undefined ? [] : ['--pg-cpus', args['pg-cpus']]), ...(args.baseline === undefined ? [] : ['--baseline', args.baseline]), ...(QUICK ? ['--quick'] : [])]
  const run = spawnSync(process.execPath, ['--import=tsx', 'bench/streams/turns.ts', ...passed], { cwd: root, stdio: 'inherit', env: process.env })
  process.exit(run.status ?? 1)
}
if (args.fairness) {
  const passed = [...(args.baseline === undefined ? [] : ['--baseline', args.baseline]), ...(QUICK ? ['--burst', '100', '--rounds', '1'] : [])]
  const run = spawnSync(process.execPath, ['--import=tsx', 'bench/streams/fairness.ts', ...passed], { cwd: root, stdio: 'inherit', env: process.env })
  process.exit(run.status ?? 1)
}
if (args.soak === true) {
  const run = spawnSync(process.execPath, ['--import=tsx', 'bench/soak.ts'], { cwd: root, stdio: 'inherit', env: process.env })
  process.exitCode = run.status ?? 1
} else {
  await main()
  if (args.only === undefined && args.hot !== true) await suite()
}
