// `node --import=tsx bench/streams/turns.ts [--sizes 10,50,200,1000] [--baseline <dir>] [--steady 1000] [--pg-cpus 0,1]`
// (`npm run bench -- --turns-curve`): N users each start one chat turn at the same moment.
//
// Each of N end users of one tenant (on one registered upstream token, its in-flight limits set
// above N) has a session; all N send one `[scenario:text]` turn at once (Accept:
// text/event-stream), and straight to the simulator's /run_sse N sessions do the same. For each
// turn: the first `text` event and the end of the stream, from the burst's start. Around each
// gateway burst: the gateway's CPU time and its embedded Postgres's (every process of the
// cluster, exited backends included) from /proc, divided by N, and the gateway's peak RSS
// (sampled every 20 ms). The paths alternate, direct first, for every N (and the baseline
// build's gateway, when given, right after this one's).
import { spawnSync } from 'node:child_process'
import { readFile, readdir } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request } from 'undici'
import {
  buildDist, json, machine, pinSelf, rssKiB, runLine, sseFrames, startGateway, startSimulator, stop, stopGateway, wallNow, writeResults, type Child, type Gateway
} from '../lib.ts'

const { values: args } = parseArgs({
  options: {
    sizes: { type: 'string', default: '10,50,200,1000' },
    /**
     * Then, per gateway, this many turns in a steady stream (20 users, each one turn after
     * another, over SSE), twice, alternating: CPU per turn without a burst's warm-up and queues.
     */
    steady: { type: 'string', default: '0' },
    /**
     * CPUs for the gateways' embedded Postgres (e.g. "0,1"): by default it inherits the gateway's
     * pin (CPU 0), so the two share one core; this re-pins the postmaster and its backends.
     */
    'pg-cpus': { type: 'string' },
    quick: { type: 'boolean', default: false },
    /** Another checkout with a built dist/ (e.g. the commit before a change): its gateway is measured too. */
    baseline: { type: 'string' },
    /** Extra node flags for this build's gateway (not the baseline's); GW_NODE_ARGS too, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof". */
    'gateway-node-args': { type: 'string', default: process.env.GW_NODE_ARGS ?? '' }
  }
})
const SIZES = (args.quick ? '10,50' : args.sizes).split(',').map(Number)
const MAX = Math.max(...SIZES)
const TEXT = '[scenario:text] what can you do?'

/** One turn: ms from the burst's start to its first text and to its end; `status` when refused. */
interface Turn { firstMs: number, endMs: number, status: number }

/** CPU seconds of one process (children it waited for included), from /proc. */
async function cpuOf (pid: number): Promise<{ ppid: number, s: number } | null> {
  const raw = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => null)
  if (raw === null) return null
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
  // utime stime cutime cstime, in ticks of 10 ms
  return { ppid: Number(f[1]), s: (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100 }
}

/** CPU seconds of the postmaster and all its children (exited backends are in its cutime). */
async function clusterCpu (postmaster: number): Promise<number> {
  let total = (await cpuOf(postmaster))?.s ?? 0
  for (const name of await readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue
    const p = await cpuOf(Number(name))
    if (p !== null && p.ppid === postmaster) total += p.s
  }
  return total
}

/** Pins the postmaster and every process it started so far (its backends) to `cpus`; later ones inherit it. */
async function repin (postmaster: number, cpus: string): Promise<void> {
  const pids = [postmaster]
  for (const name of await readdir('/proc')) {
    if (/^\d+$/.test(name) && (await cpuOf(Number(name)))?.ppid === postmaster) pids.push(Number(name))
  }
  for (const pid of pids) spawnSync('taskset', ['-a', '-p', '-c', cpus, String(pid)], { stdio: 'ignore' })
}

function pct (xs: number[], p: number): number {
  const s = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b)
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.floor(s.length * p))]!
}

interface Cell {
  n: number
  served: number
  refused: Record<string, number>
  /** Accepted (200) but the stream ended without its end event. */
  lost: number
  firstP50: number,
  firstP99: number,
  endP50: number,
  endP99: number
  cpuMsPerTurn?: number,
  pgCpuMsPerTurn?: number,
  rssPeakMiB?: number
}

function cellOf (n: number, turns: Turn[]): Cell {
  const served = turns.filter((t) => t.status === 200 && Number.isFinite(t.endMs))
  const refused: Record<string, number> = {}
  for (const t of turns) if (t.status !== 200) refused[t.status] = (refused[t.status] ?? 0) + 1
  return {
    n,
    served: served.length,
    refused,
    lost: turns.filter((t) => t.status === 200 && !Number.isFinite(t.endMs)).length,
    firstP50: pct(served.map((t) => t.firstMs), 0.5),
    firstP99: pct(served.map((t) => t.firstMs), 0.99),
    endP50: pct(served.map((t) => t.endMs), 0.5),
    endP99: pct(served.map((t) => t.endMs), 0.99)
  }
}

/** What the gateway's refusals said, and how often (printed after each burst). */
const refusals = new Map<string, number>()

// every turn its own connection, as N separate users would have
const dispatcher = new Agent({ connections: null, pipelining: 0, keepAliveTimeout: 10_000, connectTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000 })

async function directTurn (simUrl: string, token: string, sessionId: string, t0: number): Promise<Turn> {
  const res = await request(`${simUrl}/run_sse`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text: TEXT }] } })
  })
  if (res.statusCode !== 200) { await res.body.dump(); return { firstMs: NaN, endMs: NaN, status: res.statusCode } }
  let firstMs = NaN
  for await (const f of sseFrames(res.body)) {
    if (Number.isNaN(firstMs) && !f.comment && typeof JSON.parse(f.data || 'null')?.content?.parts?.[0]?.text === 'string') firstMs = f.at - t0
  }
  return { firstMs, endMs: wallNow() - t0, status: 200 }
}

async function gatewayTurn (gw: Gateway, userId: string, sessionId: string, t0: number): Promise<Turn> {
  const res = await request(`${gw.url}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    dispatcher,
    headers: { authorization: `Bearer ${gw.key}`, 'x-user-id': userId, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text: TEXT })
  })
  if (res.statusCode !== 200) { const body = await res.body.json().catch(() => ({})) as { code?: string, detail?: string }; refusals.set(`${res.statusCode} ${body.code}: ${body.detail}`, (refusals.get(`${res.statusCode} ${body.code}: ${body.detail}`) ?? 0) + 1); return { firstMs: NaN, endMs: NaN, status: res.statusCode } }
  let firstMs = NaN
  let endMs = NaN
  for await (const f of sseFrames(res.body)) {
    if (f.event === 'text' && Number.isNaN(firstMs)) firstMs = f.at - t0
    if (f.event === 'turn.completed' || f.event === 'turn.failed') endMs = f.at - t0
  }
  return { firstMs, endMs, status: 200 }
}

/** Runs `turn` N times at once; with `pid`, the process's and its cluster's CPU and peak RSS. */
async function burst (n: number, turn: (i: number, t0: number) => Promise<Turn>, probe?: { pid: number, postmaster: number }): Promise<Cell> {
  const cpu0 = probe ? (await cpuOf(probe.pid))!.s : 0
  const pg0 = probe ? await clusterCpu(probe.postmaster) : 0
  let peak = 0
  const sampler = probe ? setInterval(() => { rssKiB(probe.pid).then((k) => { peak = Math.max(peak, k ?? 0) }, () => {}) }, 20) : undefined
  const t0 = wallNow()
  const turns = await Promise.all(Array.from({ length: n }, async (_, i) => await turn(i, t0).catch(() => ({ firstMs: NaN, endMs: NaN, status: -1 }))))
  clearInterval(sampler)
  const cell = cellOf(n, turns)
  if (probe) {
    // the last turn's closing writes land just after its end event
    await new Promise((resolve) => setTimeout(resolve, 300))
    cell.cpuMsPerTurn = ((await cpuOf(probe.pid))!.s - cpu0) * 1000 / n
    cell.pgCpuMsPerTurn = (await clusterCpu(probe.postmaster) - pg0) * 1000 / n
    cell.rssPeakMiB = peak / 1024
  }
  return cell
}

interface Steady { turns: number, seconds: number, cpuMsPerTurn: number, pgCpuMsPerTurn: number }

interface Path { name: string, cells: Cell[], run: (n: number) => Promise<Cell>, steady?: (turns: number) => Promise<Steady>, steadyRuns?: Steady[] }

/** Users that each send one turn after another in the steady run. */
const STEADY_USERS = 20

async function gatewayPath (name: string, simUrl: string, token: string, dir: string | undefined, nodeArgs: string[]): Promise<{ path: Path, gw: Gateway }> {
  const limits = { TURNS_MAX_IN_FLIGHT: String(MAX + 1), TURNS_MAX_IN_FLIGHT_PER_TENANT: String(MAX + 1) }
  const gw = await startGateway(simUrl, { NEMO_TOKEN: token, HEARTBEAT_EVENT_INTERVAL_MS: '0', ...limits }, nodeArgs, dir)
  const postmaster = Number((await readFile(join(gw.dataDir, 'pg', 'postmaster.pid'), 'utf8')).split('\n')[0])
  if (args['pg-cpus'] !== undefined) await repin(postmaster, args['pg-cpus'])
  // N users, each with a session, made a few at a time
  const sessions: string[] = []
  for (let i = 0; i < MAX; i += 25) {
    sessions.push(...await Promise.all(Array.from({ length: Math.min(25, MAX - i) }, async (_, j) =>
      (await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${gw.key}`, 'x-user-id': `user-${i + j}` }, body: {} })).id as string)))
  }
  // warm-up: a session's first turn reads its baseline state; JIT
  for (let i = 0; i < MAX; i += 10) {
    await Promise.all(sessions.slice(i, i + 10).map(async (s, j) => await gatewayTurn(gw, `user-${i + j}`, s, wallNow())))
  }
  refusals.clear()
  const path: Path = {
    name,
    cells: [],
    run: async (n) => await burst(n, async (i, t0) => await gatewayTurn(gw, `user-${i}`, sessions[i]!, t0), { pid: gw.child.proc.pid!, postmaster }),
    steady: async (turns) => {
      const pid = gw.child.proc.pid!
      const cpu0 = (await cpuOf(pid))!.s
      const pg0 = await clusterCpu(postmaster)
      const t0 = wallNow()
      let next = 0
      await Promise.all(Array.from({ length: Math.min(STEADY_USERS, sessions.length) }, async (_, i) => {
        while (next < turns) {
          next++
          const turn = await gatewayTurn(gw, `user-${i}`, sessions[i]!, wallNow())
          if (turn.status !== 200 || !Number.isFinite(turn.endMs)) throw new Error(`a steady turn was not served: ${turn.status}`)
        }
      }))
      const seconds = (wallNow() - t0) / 1000
      await new Promise((resolve) => setTimeout(resolve, 300))
      return { turns, seconds, cpuMsPerTurn: ((await cpuOf(pid))!.s - cpu0) * 1000 / turns, pgCpuMsPerTurn: (await clusterCpu(postmaster) - pg0) * 1000 / turns }
    }
  }
  return { path, gw }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const children: Child[] = []
  const gateways: Gateway[] = []
  try {
    const sim = await startSimulator()
    children.push(sim.child)
    const minted = await json(`${sim.url}/api/auth/anonymous-token`, { method: 'POST', headers: { 'x-client-id': 'bench-turns' } })
    const token = minted.data.token as string
    const simSessions: string[] = []
    for (let i = 0; i < MAX; i += 25) {
      simSessions.push(...await Promise.all(Array.from({ length: Math.min(25, MAX - i) }, async (_, j) =>
        (await json(`${sim.url}/api/tasks/me/with-session/nemo_agent`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: { task_name: `curve-${i + j}` } })).data.session_id as string)))
    }
    const direct: Path = { name: 'direct', cells: [], run: async (n) => await burst(n, async (i, t0) => await directTurn(sim.url, token, simSessions[i]!, t0)) }
    await direct.run(Math.min(MAX, 50))
    const nodeArgs = args['gateway-node-args'].split(' ').filter((a) => a !== '')
    const paths: Path[] = [direct]
    const main = await gatewayPath('gateway', sim.url, token, undefined, nodeArgs)
    gateways.push(main.gw)
    paths.push(main.path)
    if (args.baseline !== undefined) {
      const base = await gatewayPath('baseline', sim.url, token, args.baseline, [])
      gateways.push(base.gw)
      paths.push(base.path)
    }
    const idleRssMiB: Record<string, number> = Object.fromEntries(await Promise.all(gateways.map(async (g, i) => [paths[i + 1]!.name, ((await rssKiB(g.child.proc.pid!)) ?? NaN) / 1024] as const)))
    for (const n of SIZES) {
      for (const p of paths) {
        p.cells.push(await p.run(n))
        const c = p.cells.at(-1)!
        process.stderr.write(`N=${n} ${p.name}: first text p50 ${c.firstP50.toFixed(0)} p99 ${c.firstP99.toFixed(0)} ms, end p99 ${c.endP99.toFixed(0)} ms, served ${c.served}, refused ${JSON.stringify(c.refused)}, lost ${c.lost}` +
          (c.cpuMsPerTurn === undefined ? '' : `, CPU ${c.cpuMsPerTurn.toFixed(1)} ms/turn, Postgres ${c.pgCpuMsPerTurn!.toFixed(1)} ms/turn, RSS peak ${c.rssPeakMiB!.toFixed(0)} MiB`) + '\n')
        for (const [r, k] of refusals) process.stderr.write(`  refused ${k}x: ${r}\n`)
        refusals.clear()
        // let the last streams close and the pools settle between bursts
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
    const STEADY = Number(args.steady)
    if (STEADY > 0) {
      for (let round = 0; round < 2; round++) {
        for (const p of paths) {
          if (p.steady === undefined) continue
          const r = await p.steady(STEADY)
          ;(p.steadyRuns ??= []).push(r)
          process.stderr.write(`steady ${p.name}: ${r.turns} turns in ${r.seconds.toFixed(1)} s, CPU ${r.cpuMsPerTurn.toFixed(2)} ms/turn, Postgres ${r.pgCpuMsPerTurn.toFixed(2)} ms/turn\n`)
          await new Promise((resolve) => setTimeout(resolve, 1000))
        }
      }
    }
    const date = new Date().toISOString()
    const report = { date, machine: machine(), settings: { sizes: SIZES, text: TEXT, baseline: args.baseline ?? null, steady: STEADY, pgCpus: args['pg-cpus'] ?? null }, idleRssMiB, paths: paths.map((p) => ({ name: p.name, cells: p.cells, steady: p.steadyRuns ?? [] })) }
    const ms = (x: number) => Number.isFinite(x) ? x.toFixed(0) : '-'
    const gwCols = paths.slice(1)
    const outcome = (c: Cell) => c.served === c.n ? 'all served' : `${c.served} served, ${Object.entries(c.refused).map(([s, k]) => `${k}x ${s}`).join(', ')}${c.lost > 0 ? `, ${c.lost} lost` : ''}`
    const table = [
      runLine(date, `N turns (\`[scenario:text]\`) started at once, one tenant on one registered upstream token; ms from the burst's start; CPU per turn = process CPU over the burst / N; the embedded Postgres ${args['pg-cpus'] === undefined ? 'on the gateway\'s CPU 0 (inherited)' : `re-pinned to CPUs ${args['pg-cpus']}`}.`),
      '',
      `| N | direct: first text p50 / p99, end p99 | ${gwCols.map((p) => `${p.name}: first text p50 / p99 | ${p.name}: end p50 / p99 | ${p.name}: CPU ms/turn (gateway / Postgres) | ${p.name}: RSS peak MiB | ${p.name}: outcome`).join(' | ')} |`,
      `| --- | --- | ${gwCols.map(() => '--- | --- | --- | --- | ---').join(' | ')} |`,
      ...SIZES.map((n, i) => {
        const d = direct.cells[i]!
        return `| ${n} | ${ms(d.firstP50)} / ${ms(d.firstP99)}, ${ms(d.endP99)} | ${gwCols.map((p) => {
          const c = p.cells[i]!
          return `${ms(c.firstP50)} / ${ms(c.firstP99)} | ${ms(c.endP50)} / ${ms(c.endP99)} | ${c.cpuMsPerTurn!.toFixed(1)} / ${c.pgCpuMsPerTurn!.toFixed(1)} | ${c.rssPeakMiB!.toFixed(0)} | ${outcome(c)}`
        }).join(' | ')} |`
      }),
      '',
      `Idle RSS before the first burst: ${Object.entries(idleRssMiB).map(([k, v]) => `${k} ${v.toFixed(0)} MiB`).join(', ')}.`,
      ...(STEADY > 0
        ? ['', `Steady (after the bursts): ${STEADY} turns, ${STEADY_USERS} users each sending one after another over SSE, twice per gateway, alternating.`, '',
            '| gateway | CPU ms/turn (gateway / Postgres), each run | turns/s |', '| --- | --- | --- |',
            ...gwCols.map((p) => `| ${p.name} | ${(p.steadyRuns ?? []).map((r) => `${r.cpuMsPerTurn.toFixed(2)} / ${r.pgCpuMsPerTurn.toFixed(2)}`).join(', ')} | ${(p.steadyRuns ?? []).map((r) => (r.turns / r.seconds).toFixed(0)).join(', ')} |`)]
        : [])
    ].join('\n')
    await writeResults('turns', report, table)
  } finally {
    for (const gw of gateways) await stopGateway(gw)
    for (const c of children.reverse()) await stop(c)
    await dispatcher.close()
  }
}

await main()
