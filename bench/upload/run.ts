// `npm run bench:upload [-- --sizes 50,500 --throttle 20 --throttled-size 500 --runs 1]`
//
// Uploads through the gateway against uploads straight to the simulator, in one run. The
// simulator and the gateway run as child processes, so the gateway's memory is its own and is
// read from outside (/proc/<pid>/status: VmRSS sampled every 20 ms, and VmHWM after resetting
// it through /proc/<pid>/clear_refs). The file is generated on the fly (an MP4 `ftyp` box,
// then one reused 1 MiB pattern chunk), so the client never holds it either.
// Not part of `npm test`. Sizes are MiB. DATABASE_URL, when set, names the server the gateway's
// own throwaway database is created on; else the gateway starts its embedded Postgres.
// GW_NODE_ARGS adds node flags to the gateway process (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p").
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, loadavg, tmpdir } from 'node:os'
import { join } from 'node:path'
import { Readable } from 'node:stream'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { request } from 'undici'
import { freePort } from '../free-port.ts'

const MiB = 1024 * 1024

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '50,500' },
    throttle: { type: 'string', default: '20' },
    'throttled-size': { type: 'string' },
    runs: { type: 'string', default: '1' },
    json: { type: 'boolean', default: false }
  }
})
const sizes = args.sizes.split(',').map(Number).filter((n) => n > 0)
const throttleMiBs = Number(args.throttle)
const throttledSize = Number(args['throttled-size'] ?? Math.max(...sizes))
const runs = Math.max(1, Number(args.runs))
const WARMUP_MIB = 16
const maxSize = Math.max(...sizes, throttledSize, WARMUP_MIB)

// ---- processes ----

interface Child { proc: ChildProcess, output: () => string }

function start (name: string, script: string, env: Record<string, string>): Child {
  const extra = name === 'gateway' && process.env.GW_NODE_ARGS ? process.env.GW_NODE_ARGS.split(' ') : []
  const proc = spawn(process.execPath, [...extra, '--import=tsx', script], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  let tail = ''
  const keep = (chunk: Buffer): void => { tail = (tail + chunk.toString()).slice(-8000) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  proc.on('exit', (code, signal) => { if (code !== 0 && signal === null) console.error(`${name} exited with ${code}:\n${tail}`) })
  return { proc, output: () => tail }
}

async function stop (child: Child | undefined): Promise<void> {
  if (child === undefined || child.proc.exitCode !== null) return
  const exited = new Promise((resolve) => child.proc.once('exit', resolve))
  child.proc.kill('SIGTERM')
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), 20_000)
  await exited
  clearTimeout(timer)
}

async function waitFor (url: string, child: Child, ms = 120_000): Promise<void> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (child.proc.exitCode !== null) throw new Error(`exited before it was ready:\n${child.output()}`)
    try {
      const res = await request(url)
      await res.body.dump()
      if (res.statusCode === 200) return
    } catch {}
    await new Promise((resolve) => setTimeout(resolve, 200))
  }
  throw new Error(`${url} not ready after ${ms} ms:\n${child.output()}`)
}

// ---- memory, read from outside ----

async function status (pid: number, field: 'VmRSS' | 'VmHWM'): Promise<number> {
  const text = await readFile(`/proc/${pid}/status`, 'utf8')
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(text)
  return m ? Number(m[1]) * 1024 : NaN
}

/** Samples VmRSS until stopped; the peak is the larger of the samples and VmHWM (reset at start). */
async function watchMemory (pid: number): Promise<{ baseline: number, stop: () => Promise<number> }> {
  let hwmReset = true
  try {
    await writeFile(`/proc/${pid}/clear_refs`, '5')
  } catch {
    hwmReset = false
  }
  const baseline = await status(pid, 'VmRSS')
  let peak = baseline
  const watch = { running: true }
  const loop = (async () => {
    while (watch.running) {
      peak = Math.max(peak, await status(pid, 'VmRSS'))
      await new Promise((resolve) => setTimeout(resolve, 20))
    }
  })()
  return {
    baseline,
    stop: async () => {
      watch.running = false
      await loop
      if (hwmReset) peak = Math.max(peak, await status(pid, 'VmHWM'))
      return peak
    }
  }
}

/** CPU seconds (user + system) a process has used so far. */
async function cpuSeconds (pid: number): Promise<number> {
  const stat = await readFile(`/proc/${pid}/stat`, 'utf8')
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100 // utime + stime, in USER_HZ ticks
}

// ---- the file, generated as it is sent ----

const FTYP = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1')])
const PATTERN = Buffer.alloc(MiB)
for (let i = 0; i < PATTERN.length; i++) PATTERN[i] = (i * 7) % 251

function multipartBody (filename: string, bytes: number): { body: Readable, contentType: string } {
  const boundary = `bench-${randomBytes(8).toString('hex')}`
  function * parts (): Generator<Buffer> {
    yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: video/mp4\r\n\r\n`)
    yield FTYP
    let left = bytes - FTYP.length
    while (left > 0) {
      const n = Math.min(left, PATTERN.length)
      yield n === PATTERN.length ? PATTERN : PATTERN.subarray(0, n)
      left -= n
    }
    yield Buffer.from(`\r\n--${boundary}--\r\n`)
  }
  return { body: Readable.from(parts(), { objectMode: false }), contentType: `multipart/form-data; boundary=${boundary}` }
}

interface Result { ms: number, mibPerSec: number, body: any }

async function upload (url: string, headers: Record<string, string>, size: number): Promise<Result> {
  const { body, contentType } = multipartBody('bench.mp4', size)
  const started = performance.now()
  const res = await request(url, { method: 'POST', headers: { ...headers, 'content-type': contentType }, body, bodyTimeout: 0, headersTimeout: 0 })
  const json = await res.body.json() as any
  const ms = performance.now() - started
  if (res.statusCode >= 300 || (json.code !== undefined && json.code !== 0)) throw new Error(`upload to ${url} failed: ${res.statusCode} ${JSON.stringify(json)}`)
  return { ms, mibPerSec: size / MiB / (ms / 1000), body: json }
}

async function postJson (url: string, body: unknown, headers: Record<string, string> = {}): Promise<any> {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify(body) })
  const json = await res.body.json() as any
  if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(json)}`)
  return json
}

// ---- the run ----

const mib = (b: number): string => (b / MiB).toFixed(1)

async function main (): Promise<void> {
  const loadAtStart = loadavg()
  const work = await mkdtemp(join(tmpdir(), 'ngw-bench-'))
  const adminToken = randomBytes(16).toString('hex')
  let sim: Child | undefined
  let gateway: Child | undefined
  let dropDb: (() => Promise<void>) | undefined
  try {
    const simPort = await freePort()
    const gwPort = await freePort()
    const simUrl = `http://127.0.0.1:${simPort}`
    const gwUrl = `http://127.0.0.1:${gwPort}`

    // a database of its own on DATABASE_URL's server, else the gateway's embedded Postgres
    let databaseUrl: string | undefined
    if (process.env.DATABASE_URL) {
      const name = `ngw_bench_${randomBytes(4).toString('hex')}`
      const admin = new pg.Client({ connectionString: process.env.DATABASE_URL })
      await admin.connect()
      await admin.query(`CREATE DATABASE ${name}`)
      await admin.end()
      const u = new URL(process.env.DATABASE_URL)
      u.pathname = `/${name}`
      databaseUrl = u.toString()
      dropDb = async () => {
        const c = new pg.Client({ connectionString: process.env.DATABASE_URL })
        await c.connect()
        await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
        await c.end()
      }
    }

    sim = start('simulator', 'src/simulator/server.ts', {
      SIM_PORT: String(simPort), SIM_HOST: '127.0.0.1', SIM_LOG_LEVEL: 'warn', SIM_MINT_LIMIT_PER_IP: '1000', SIM_UPLOAD_MAX_BYTES: String(4096 * MiB)
    })
    gateway = start('gateway', 'src/server.ts', {
      PORT: String(gwPort),
      HOST: '127.0.0.1',
      LOG_LEVEL: 'warn',
      NEMO_BASE_URL: simUrl,
      ADMIN_TOKEN: adminToken,
      ENCRYPTION_KEY: randomBytes(32).toString('hex'),
      FIRST_RUN_TENANT: 'false',
      DATA_DIR: work, // the gateway makes it traversable for the embedded cluster when run as root
      UPLOAD_MAX_BYTES: String(maxSize * MiB + MiB),
      MAX_EVENT_LOOP_DELAY_MS: '0',
      RATE_LIMIT_MAX: '100000',
      ...(databaseUrl === undefined ? {} : { DATABASE_URL: databaseUrl })
    })
    await waitFor(`${simUrl}/__sim/counters`, sim)
    await waitFor(`${gwUrl}/health/ready`, gateway)
    const gwPid = gateway.proc.pid!
    const simPid = sim.proc.pid!
    const cpuNow = async (): Promise<number[]> => {
      const own = process.cpuUsage()
      return [(own.user + own.system) / 1e6, await cpuSeconds(gwPid), await cpuSeconds(simPid)]
    }
    /** CPU seconds spent by the client, the gateway and the simulator while `fn` ran. */
    const withCpu = async <T>(fn: () => Promise<T>): Promise<[T, string]> => {
      const before = await cpuNow()
      const value = await fn()
      const after = await cpuNow()
      return [value, after.map((v, i) => (v - before[i]!).toFixed(1)).join(' / ')]
    }

    // a tenant, a key and a session on the gateway; a token and a session straight on the simulator
    const adminAuth = { authorization: `Bearer ${adminToken}` }
    const tenant = await postJson(`${gwUrl}/admin/v1/tenants`, { name: 'bench' }, adminAuth)
    const { key } = await postJson(`${gwUrl}/admin/v1/tenants/${tenant.id}/keys`, { name: 'bench' }, adminAuth)
    const gwHeaders = { authorization: `Bearer ${key}`, 'x-user-id': 'bench' }
    const session = await postJson(`${gwUrl}/v1/sessions`, {}, gwHeaders)
    const gwUploadUrl = `${gwUrl}/v1/sessions/${session.id}/uploads`
    const anon = await postJson(`${simUrl}/api/auth/anonymous-token`, undefined, { 'x-client-id': 'bench-direct' })
    const simHeaders = { authorization: `Bearer ${anon.data.token}` }
    const direct = await postJson(`${simUrl}/api/tasks/me/with-session/nemo_agent`, { task_name: 'bench' }, simHeaders)
    const directUploadUrl = `${simUrl}/api/upload-video/nemo_agent/me/${direct.data.session_id}`

    // warm both paths up (JIT, connections, the gateway's caches)
    for (let i = 0; i < 2; i++) {
      await upload(directUploadUrl, simHeaders, WARMUP_MIB * MiB)
      await upload(gwUploadUrl, gwHeaders, WARMUP_MIB * MiB)
    }

    const lastUpstream = async (): Promise<{ size: number, sha256: string }> => {
      const res = await request(`${simUrl}/__sim/uploads`)
      const all = await res.body.json() as Array<{ size: number, sha256: string }>
      return all[all.length - 1]!
    }

    const rows: Array<Record<string, string | number | boolean>> = []
    const measureGateway = async (size: number): Promise<{ r: Result, baseline: number, peak: number, intact: boolean }> => {
      const mem = await watchMemory(gwPid)
      const r = await upload(gwUploadUrl, gwHeaders, size)
      const peak = await mem.stop()
      const item = r.body.items[0]
      const upstream = await lastUpstream()
      const intact = item.size === size && upstream.size === size && item.sha256 === upstream.sha256
      return { r, baseline: mem.baseline, peak, intact }
    }

    for (const sizeMiB of sizes) {
      const size = sizeMiB * MiB
      for (let run = 1; run <= runs; run++) {
        const [d, directCpu] = await withCpu(async () => await upload(directUploadUrl, simHeaders, size))
        const [g, gatewayCpu] = await withCpu(async () => await measureGateway(size))
        rows.push({
          case: `${sizeMiB} MiB`,
          run,
          directMiBs: +d.mibPerSec.toFixed(1),
          gatewayMiBs: +g.r.mibPerSec.toFixed(1),
          ratio: +(g.r.mibPerSec / d.mibPerSec).toFixed(3),
          'cpu s direct (client/gw/sim)': directCpu,
          'cpu s via gw (client/gw/sim)': gatewayCpu,
          rssBeforeMiB: +mib(g.baseline),
          rssPeakMiB: +mib(g.peak),
          rssGrowthMiB: +mib(g.peak - g.baseline),
          sha256Match: g.intact
        })
      }
    }

    await postJson(`${simUrl}/__sim/config`, { uploadThrottleBytesPerSec: Math.round(throttleMiBs * MiB) })
    const [g, gatewayCpu] = await withCpu(async () => await measureGateway(throttledSize * MiB))
    await postJson(`${simUrl}/__sim/config`, { uploadThrottleBytesPerSec: 0 })
    rows.push({
      case: `${throttledSize} MiB, upstream ${throttleMiBs} MiB/s`,
      run: 1,
      directMiBs: '-',
      gatewayMiBs: +g.r.mibPerSec.toFixed(1),
      ratio: '-',
      'cpu s direct (client/gw/sim)': '-',
      'cpu s via gw (client/gw/sim)': gatewayCpu,
      rssBeforeMiB: +mib(g.baseline),
      rssPeakMiB: +mib(g.peak),
      rssGrowthMiB: +mib(g.peak - g.baseline),
      sha256Match: g.intact
    })

    // the median run per size: one noisy neighbour on a small machine should not decide the verdict
    const summary = [...new Set(sizes)].map((sizeMiB) => {
      const mine = rows.filter((r) => r.case === `${sizeMiB} MiB`)
      const ratios = mine.map((r) => Number(r.ratio)).sort((a, b) => a - b)
      return {
        case: `${sizeMiB} MiB`,
        runs: mine.length,
        medianRatio: ratios[Math.floor(ratios.length / 2)]!,
        maxRssGrowthMiB: Math.max(...mine.map((r) => Number(r.rssGrowthMiB))),
        allIntact: mine.every((r) => r.sha256Match === true)
      }
    })
    const machine = `${cpus().length} x ${cpus()[0]?.model ?? 'cpu'}, Node ${process.version}, ${process.platform}`
    const load = `load average at start ${loadAtStart.map((l) => l.toFixed(2)).join(' ')}, at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`
    if (args.json) {
      console.log(JSON.stringify({ machine, load, rows, summary }, null, 2))
    } else {
      console.log(`machine: ${machine}\n${load}`)
      console.table(rows)
      console.table(summary)
    }
  } finally {
    await stop(gateway)
    await stop(sim)
    await dropDb?.().catch((err: unknown) => console.error(`could not drop the bench database: ${(err as Error).message}`))
    await rm(work, { recursive: true, force: true })
  }
}

await main()
