// What the stream and start benchmarks share: child processes (started, awaited, stopped), the
// simulator and a gateway from the compiled build on pinned CPUs, JSON calls, medians, memory
// read from /proc, and the results (bench/results/<name>-latest.json, a table between
// `<!-- bench:<name>:start -->` and `<!-- bench:<name>:end -->` in bench/README.md).
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { freePort } from './free-port.ts'

export const root = new URL('..', import.meta.url).pathname

/** The gateway on CPU 0; the simulator and the load generator (this process) on CPU 1. */
export const taskset = spawnSync('taskset', ['--version']).status === 0 && cpus().length >= 2
export const pin = (cpu: number, argv: string[]): string[] => taskset ? ['taskset', '-c', String(cpu), ...argv] : argv
export function pinSelf (): void {
  if (taskset) spawnSync('taskset', ['-p', '-c', '1', String(process.pid)])
}

export interface Child { proc: ChildProcess, out: () => string }

export function start (argv: string[], env: Record<string, string>, cwd = root): Child {
  const proc = spawn(argv[0]!, argv.slice(1), { cwd, env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  const keep = (c: Buffer) => { out = (out + c.toString()).slice(-20_000) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  return { proc, out: () => out }
}

export async function stop (child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return
  const exited = new Promise((resolve) => child.proc.once('exit', resolve))
  child.proc.kill('SIGTERM')
  await exited
}

export async function until<T> (what: string, child: Child, fn: () => Promise<T | undefined>, ms = 120_000, everyMs = 50): Promise<T> {
  const end = Date.now() + ms
  while (Date.now() < end) {
    if (child.proc.exitCode !== null) throw new Error(`${what} exited:\n${child.out()}`)
    const v = await fn().catch(() => undefined)
    if (v !== undefined) return v
    await new Promise((resolve) => setTimeout(resolve, everyMs))
  }
  throw new Error(`${what}: not ready in time\n${child.out()}`)
}

export async function json (url: string, init: { method?: string, headers?: Record<string, string>, body?: unknown } = {}): Promise<any> {
  // a gateway that has just started on a busy machine may answer 503 (under pressure) for a moment
  for (let attempt = 1; ; attempt++) {
    const res = await request(url, { method: (init.method ?? 'GET') as 'GET', headers: { 'content-type': 'application/json', ...init.headers }, body: init.body === undefined ? undefined : JSON.stringify(init.body) })
    const body = await res.body.json() as any
    if (res.statusCode === 503 && attempt < 20) { await new Promise((resolve) => setTimeout(resolve, 500)); continue }
    if (res.statusCode >= 300) throw new Error(`${url}: ${res.statusCode} ${JSON.stringify(body)}`)
    return body
  }
}

export const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)]! }
export interface Stat { median: number, min: number, max: number }
export const stat = (xs: number[]): Stat => ({ median: median(xs), min: Math.min(...xs), max: Math.max(...xs) })
/** `median (min-max)` */
export const range = (s: Stat, digits = 1): string => `${s.median.toFixed(digits)} (${s.min.toFixed(digits)}-${s.max.toFixed(digits)})`
/** Wall-clock ms with sub-ms precision: comparable with the simulator's `sent at` stamps. */
export const wallNow = (): number => performance.timeOrigin + performance.now()

/** A process's resident memory in KiB, from /proc (null where there is no /proc). */
export async function rssKiB (pid: number): Promise<number | null> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => null)
  const m = status === null ? null : /VmRSS:\s+(\d+) kB/.exec(status)
  return m === null ? null : Number(m[1])
}

/** Builds dist/ if a source is newer: the processes run from the compiled build. */
export function buildDist (): void {
  const build = spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('build failed')
}

export async function startSimulator (env: Record<string, string> = {}): Promise<{ child: Child, url: string }> {
  const port = await freePort()
  const child = start(pin(1, [process.execPath, 'dist/simulator/server.js']), { SIM_PORT: String(port), SIM_LOG_LEVEL: 'warn', SIM_MINT_LIMIT_PER_IP: '100000', SIM_MINT_LIMIT_PER_CLIENT: '100000', ...env })
  const url = `http://127.0.0.1:${port}`
  await until('simulator', child, async () => (await request(`${url}/__sim/counters`)).statusCode === 200 ? true : undefined)
  return { child, url }
}

export interface Gateway {
  child: Child
  url: string
  /** The first-run admin key, read from the gateway's stdout. */
  key: string
  dataDir: string
  /** The embedded Postgres of its DATA_DIR. */
  databaseUrl: () => Promise<string>
}

/**
 * `npm start`'s command in checkout `dir` (its package.json): the environment it sets and node's
 * arguments, e.g. `{ env: {}, args: ['--import=./dist/telemetry.js', 'dist/server.js'] }`. A
 * bench runs exactly the process a user runs, for this build and for a baseline alike.
 */
export function startCommand (dir = root): { env: Record<string, string>, args: string[] } {
  const script = String((JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')) as { scripts?: Record<string, string> }).scripts?.start ?? '')
  const words = (script.split('&&').at(-1) ?? '').trim().split(/\s+/).filter((w) => w !== 'exec')
  const env: Record<string, string> = {}
  while (/^[A-Z_][A-Z0-9_]*=/.test(words[0] ?? '')) {
    const [name, ...value] = words.shift()!.split('=')
    env[name!] = value.join('=')
  }
  if (words[0] !== 'node') throw new Error(`${join(dir, 'package.json')}: npm start does not end in a node command: ${script}`)
  return { env, args: words.slice(1) }
}

/**
 * The gateway from dist/ on CPU 0, the way `npm start` runs it (`startCommand`), on its embedded Postgres in a
 * fresh temporary DATA_DIR (removed by `stopGateway`). `dir`: another checkout's build (a
 * baseline to compare with, in the same run).
 */
export async function startGateway (simUrl: string, env: Record<string, string> = {}, nodeArgs: string[] = [], dir = root): Promise<Gateway> {
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-bench-'))
  const port = await freePort()
  const command = startCommand(dir)
  const child = start(pin(0, [process.execPath, ...nodeArgs, ...command.args]), {
    ...command.env, NEMO_BASE_URL: simUrl, LOG_LEVEL: 'warn', RATE_LIMIT_MAX: '100000000', MINT_LIMIT_PER_IP: '100000', DATA_DIR: dataDir, PORT: String(port), ...env
  }, dir)
  const url = `http://127.0.0.1:${port}`
  const key = await until('gateway', child, async () => /Bearer (ngw_\S+)"/.exec(child.out())?.[1])
  const databaseUrl = async () => {
    const pgPort = (await readFile(join(dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[3]!.trim()
    const pgPassword = (await readFile(join(dataDir, 'pg-password'), 'utf8')).trim()
    return `postgres://postgres:${encodeURIComponent(pgPassword)}@127.0.0.1:${pgPort}/postgres`
  }
  return { child, url, key, dataDir, databaseUrl }
}

export async function stopGateway (gw: Gateway): Promise<void> {
  await stop(gw.child)
  await rm(gw.dataDir, { recursive: true, force: true })
}

export interface Machine { cores: number, cpu: string, node: string, taskset: boolean }
export const machine = (): Machine => ({ cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, taskset })
export const commit = (): string => spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim()

/** The line every table starts with: when, on which commit and machine. */
export function runLine (date: string, extra: string): string {
  const m = machine()
  return `Run ${date} on commit ${commit()}: ${m.cores} cores (${m.cpu}), Node ${m.node}, taskset ${m.taskset ? 'yes' : 'no'}; ${extra}`
}

/** bench/results/<name>-latest.json, and the table between this benchmark's README markers. */
export async function writeResults (name: string, report: object, table: string): Promise<void> {
  await mkdir(join(root, 'bench', 'results'), { recursive: true })
  await writeFile(join(root, 'bench', 'results', `${name}-latest.json`), JSON.stringify(report, null, 2) + '\n')
  const readmePath = join(root, 'bench', 'README.md')
  const readme = await readFile(readmePath, 'utf8')
  const marked = new RegExp(`<!-- bench:${name}:start -->[\\s\\S]*<!-- bench:${name}:end -->`)
  if (marked.test(readme)) await writeFile(readmePath, readme.replace(marked, () => `<!-- bench:${name}:start -->\n${table}\n<!-- bench:${name}:end -->`))
  else process.stderr.write(`bench/README.md has no bench:${name} markers; the table is only printed\n`)
  process.stdout.write(table + '\n')
}

export interface SseFrame { event: string | null, data: string, id: string | null, comment: boolean, at: number }

/** SSE frames as they arrive, each stamped with `wallNow()` at the chunk that completed it. */
export async function * sseFrames (body: AsyncIterable<Buffer | string>): AsyncGenerator<SseFrame> {
  let buffered = ''
  for await (const chunk of body) {
    const at = wallNow()
    buffered += chunk.toString()
    for (let end = buffered.indexOf('\n\n'); end !== -1; end = buffered.indexOf('\n\n')) {
      const block = buffered.slice(0, end)
      buffered = buffered.slice(end + 2)
      let event: string | null = null
      let id: string | null = null
      const data: string[] = []
      let comment = true
      for (const line of block.split('\n')) {
        if (line.startsWith(':')) continue
        comment = false
        const colon = line.indexOf(':')
        const field = colon === -1 ? line : line.slice(0, colon)
        const value = colon === -1 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'event') event = value
        else if (field === 'id') id = value
        else if (field === 'data') data.push(value)
      }
      yield { event, data: data.join('\n'), id, comment, at }
    }
  }
}

/** Sends one DevTools protocol command to a process started with `--inspect=127.0.0.1:<port>`; its result. */
export async function inspectorCall (inspectorPort: number, method: string, params: Record<string, unknown> = {}): Promise<any> {
  const { default: WebSocket } = await import('ws')
  const targets = await (await request(`http://127.0.0.1:${inspectorPort}/json/list`)).body.json() as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  try {
    return await new Promise((resolve, reject) => {
      socket.on('message', (data) => {
        const message = JSON.parse(String(data)) as { id?: number, result?: unknown, error?: unknown }
        if (message.id !== 1) return
        if (message.error !== undefined) reject(new Error(JSON.stringify(message.error)))
        else resolve(message.result)
      })
      socket.send(JSON.stringify({ id: 1, method, params }))
    })
  } finally {
    socket.close()
  }
}

/** The size of V8's young generation (new space) in the process behind the inspector, KiB. */
export async function newSpaceKiB (inspectorPort: number): Promise<number> {
  const expression = 'require("v8").getHeapSpaceStatistics().find((s) => s.space_name === "new_space").space_size'
  const answer = await inspectorCall(inspectorPort, 'Runtime.evaluate', { expression, includeCommandLineAPI: true, returnByValue: true }) as { result: { value: number } }
  return answer.result.value / 1024
}

/** A full garbage collection in the process behind the inspector (twice: what the first frees may free more). */
export async function collectGarbage (inspectorPort: number): Promise<void> {
  await inspectorCall(inspectorPort, 'HeapProfiler.collectGarbage')
  await inspectorCall(inspectorPort, 'HeapProfiler.collectGarbage')
}

/** V8's heap in use and its size, KiB. */
export async function heapKiB (inspectorPort: number): Promise<{ usedKiB: number, totalKiB: number }> {
  const r = await inspectorCall(inspectorPort, 'Runtime.getHeapUsage') as { usedSize: number, totalSize: number }
  return { usedKiB: Math.round(r.usedSize / 1024), totalKiB: Math.round(r.totalSize / 1024) }
}
