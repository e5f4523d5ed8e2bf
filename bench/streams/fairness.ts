// `node --import=tsx bench/streams/fairness.ts [--burst 600] [--rounds 5] [--baseline <dir>]`
// (`npm run bench -- --fairness`): what one tenant's burst costs another tenant's turn.
//
// Each round, against each gateway:
// - refusals: tenant R holds its TURNS_MAX_IN_FLIGHT_PER_TENANT slots (turns that only
//   heartbeat) and sends --burst more at once, one new connection each, from end users the
//   gateway has not seen, then again from the same (known) users: all are refused with 429.
//   CPU per refusal = the gateway process's CPU time (user + system, /proc) over the burst
//   divided by the refusals.
// - fairness: tenant A sends --burst `[scenario:text]` turns at once, one new connection each
//   (its share is served, the rest refused). 100 ms later tenant B sends one turn on its own
//   keep-alive connection (opened by an earlier turn, as a backend's HTTP client keeps one), a
//   second B user one on a new connection, and the same turn goes straight to the simulator's
//   /run_sse. Each B turn's first text is compared with the direct one's.
// The bursts come from a process of their own (bench/burst-client.ts: raw sockets), so this
// one, which times B, is not the one busy with them. A new connection waits in the kernel's
// accept queue behind the burst's: Node (libuv >= 1.45) accepts one connection per event-loop
// turn, so it is accepted after every connection ahead of it. "listen overflows" counts the
// machine's connections dropped because a listen queue was full (the client's kernel retries
// them after 1 s, 3 s, ...). The gateway runs from dist/ on CPU 0 (with its embedded Postgres),
// the simulator and the clients on CPU 1, as in the other stream benchmarks.
import { randomUUID } from 'node:crypto'
import { mkdir, readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { Agent, request, type Dispatcher } from 'undici'
import { freePort } from '../free-port.ts'
import { startBurst, type Burst } from '../burst.ts'
import { buildDist, json, machine, pin, pinSelf, range, runLine, sseFrames, stat, startGateway, startSimulator, stop, stopGateway, wallNow, writeResults, type Child, type Gateway } from '../lib.ts'

const { values: args } = parseArgs({
  options: {
    burst: { type: 'string', default: '600' },
    rounds: { type: 'string', default: '5' },
    share: { type: 'string', default: '20' },
    'log-level': { type: 'string', default: 'info' },
    /** Another checkout with a built dist/ (e.g. main before a change): measured in the same run, alternating. */
    baseline: { type: 'string' },
    'gateway-node-args': { type: 'string', default: process.env.GW_NODE_ARGS ?? '' },
    /** A directory: this build's CPU profile of each burst (refusals-<round>, fairness-<round>), taken over the inspector. */
    profile: { type: 'string' }
  }
})
const BURST = Number(args.burst)
const ROUNDS = Number(args.rounds)
const SHARE = Number(args.share)
const TEXT = '[scenario:text] hi'
const ADMIN_TOKEN = 'admin-bench-fairness-0123456789'
// pipelining 1: keep-alive connections (0 would close each after its request)
const agentOptions = { pipelining: 1, keepAliveTimeout: 60_000, keepAliveMaxTimeout: 60_000, connectTimeout: 60_000, headersTimeout: 120_000, bodyTimeout: 120_000 }

// the warm-up: every request its own connection, as separate users would have
const burstClient = new Agent({ ...agentOptions, connections: null })

/**
 * A burst of turns from a process of its own (bench/burst-client.ts, on CPU 1: raw sockets, a
 * new connection each), started and ready; `fire()` sends them all at once.
 */
async function burstOf (gw: Gateway, t: Tenant, turns: Array<{ user: string, sessionId: string }>): Promise<Burst> {
  return await startBurst(gw.url, turns.map(({ user, sessionId }) => ({
    method: 'POST',
    path: `/v1/sessions/${sessionId}/turns`,
    headers: { authorization: `Bearer ${t.key}`, 'x-user-id': user, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text: TEXT })
  })), (argv) => pin(1, argv))
}

/** The process's CPU seconds so far, user and system (the kernel's share: sockets). */
async function cpuOf (pid: number): Promise<{ user: number, sys: number }> {
  const raw = await readFile(`/proc/${pid}/stat`, 'utf8')
  const f = raw.slice(raw.lastIndexOf(')') + 2).split(' ')
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 }
}

/** The kernel's count of connections dropped because a listen queue was full (all sockets of the machine). */
async function listenOverflows (): Promise<number> {
  const lines = (await readFile('/proc/net/netstat', 'utf8')).split('\n').filter((l) => l.startsWith('TcpExt:'))
  const names = lines[0]!.split(' ')
  return Number(lines[1]!.split(' ')[names.indexOf('ListenOverflows')])
}

interface Tenant { key: string }

async function tenant (gw: Gateway, name: string): Promise<Tenant> {
  const admin = { authorization: `Bearer ${ADMIN_TOKEN}` }
  const t = await json(`${gw.url}/admin/v1/tenants`, { method: 'POST', headers: admin, body: { name } })
  return { key: (await json(`${gw.url}/admin/v1/tenants/${t.id as string}/keys`, { method: 'POST', headers: admin, body: { name: 'k' } })).key as string }
}

async function sessions (gw: Gateway, t: Tenant, prefix: string, n: number): Promise<string[]> {
  const out: string[] = []
  for (let i = 0; i < n; i += 25) {
    out.push(...await Promise.all(Array.from({ length: Math.min(25, n - i) }, async (_, j) =>
      (await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: { authorization: `Bearer ${t.key}`, 'x-user-id': `${prefix}${i + j}` }, body: {} })).id as string)))
  }
  return out
}

/**
 * One turn through the gateway: its status and ms to its first text (NaN when refused). The
 * stream is read to the turn's end, so that the connection can carry the caller's next request.
 */
async function viaGateway (gw: Gateway, client: Dispatcher, t: Tenant, user: string, sessionId: string, text = TEXT, stream = true): Promise<{ status: number, firstMs: number }> {
  const t0 = wallNow()
  const res = await request(`${gw.url}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    dispatcher: client,
    headers: { authorization: `Bearer ${t.key}`, 'x-user-id': user, 'content-type': 'application/json', ...(stream ? { accept: 'text/event-stream' } : {}) },
    body: JSON.stringify({ text })
  })
  if (res.statusCode !== 200) { await res.body.dump(); return { status: res.statusCode, firstMs: NaN } }
  let firstMs = NaN
  for await (const f of sseFrames(res.body)) {
    if (f.event === 'text' && Number.isNaN(firstMs)) firstMs = f.at - t0
  }
  return { status: 200, firstMs }
}

async function direct (simUrl: string, token: string): Promise<number> {
  const session = (await json(`${simUrl}/api/tasks/me/with-session/nemo_agent`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: { task_name: 'd' } })).data.session_id as string
  const t0 = wallNow()
  const res = await request(`${simUrl}/run_sse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ app_name: 'nemo_agent', user_id: 'me', session_id: session, new_message: { parts: [{ text: TEXT }] } })
  })
  let firstMs = NaN
  for await (const f of sseFrames(res.body)) {
    if (typeof JSON.parse(f.data || 'null')?.content?.parts?.[0]?.text === 'string') { firstMs = f.at - t0; break }
  }
  res.body.destroy()
  return firstMs
}

/** One DevTools session on a gateway started with --inspect: the V8 profiler, started and stopped around a burst. */
async function profiler (inspectorPort: number): Promise<{ start: () => Promise<void>, stop: (file: string) => Promise<void>, close: () => void }> {
  const { default: WebSocket } = await import('ws')
  const targets = await (await request(`http://127.0.0.1:${inspectorPort}/json/list`)).body.json() as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  let id = 0
  const pending = new Map<number, (result: any) => void>()
  socket.on('message', (data) => {
    const m = JSON.parse(String(data)) as { id?: number, result?: unknown }
    if (m.id !== undefined) pending.get(m.id)?.(m.result)
  })
  const call = async (method: string, params: Record<string, unknown> = {}): Promise<any> => await new Promise((resolve) => {
    pending.set(++id, resolve)
    socket.send(JSON.stringify({ id, method, params }))
  })
  await call('Profiler.enable')
  await call('Profiler.setSamplingInterval', { interval: 500 })
  return {
    start: async () => { await call('Profiler.start') },
    stop: async (file) => { await writeFile(file, JSON.stringify((await call('Profiler.stop')).profile)) },
    close: () => { socket.close() }
  }
}

interface Refusals { refused: number, cpuMs: number, sysMs: number, answeredMs: number }

interface Round {
  /** R's burst from end users this instance has not seen (new), then again from the same (known). */
  newUsers: Refusals
  knownUsers: Refusals
  /** B on its warm keep-alive connection; B on a new connection; direct. */
  bWarmMs: number
  bNewMs: number
  directMs: number
  aServed: number
  aRefused: number
  fairnessCpuMs: number
  overflows: number
}

interface Subject {
  name: string
  gw: Gateway
  profiler?: Awaited<ReturnType<typeof profiler>>
  a: Tenant
  b: Tenant
  r: Tenant
  sessionsA: string[]
  sessionsB: string[]
  /** B's backend: one keep-alive connection. */
  bClient: Agent
  rounds: Round[]
}

async function subject (name: string, simUrl: string, dir: string | undefined, nodeArgs: string[]): Promise<Subject> {
  const inspectorPort = args.profile !== undefined && dir === undefined ? await freePort() : undefined
  if (inspectorPort !== undefined) nodeArgs = [...nodeArgs, `--inspect=127.0.0.1:${inspectorPort}`]
  const gw = await startGateway(simUrl, { ADMIN_TOKEN, LOG_LEVEL: args['log-level'], TURNS_MAX_IN_FLIGHT_PER_TENANT: String(SHARE), HEARTBEAT_EVENT_INTERVAL_MS: '0', HTTP_KEEPALIVE_TIMEOUT_MS: '60000', MAX_EVENT_LOOP_DELAY_MS: '0' }, nodeArgs, dir)
  const [a, b, r] = [await tenant(gw, 'tenant-a'), await tenant(gw, 'tenant-b'), await tenant(gw, 'tenant-r')]
  const sessionsA = await sessions(gw, a, 'a', BURST)
  const sessionsR = await sessions(gw, r, 'r', SHARE)
  const sessionsB = await sessions(gw, b, 'b', 2)
  const bClient = new Agent({ ...agentOptions, connections: 1 })
  // warm-up: every session's first turn reads its baseline state; JIT
  for (let i = 0; i < BURST; i += SHARE) {
    await Promise.all(sessionsA.slice(i, i + SHARE).map(async (s, j) => await viaGateway(gw, burstClient, a, `a${i + j}`, s)))
  }
  await viaGateway(gw, bClient, b, 'b0', sessionsB[0]!)
  await viaGateway(gw, burstClient, b, 'b1', sessionsB[1]!)
  // R's share is held, for the whole run, by turns that only heartbeat (SIM_GENERATION_MS)
  const held = await Promise.all(sessionsR.slice(0, SHARE).map(async (id, i) => await viaGateway(gw, burstClient, r, `r${i}`, id, '[scenario:heartbeat-only] hold', false)))
  if (held.some((h) => h.status !== 202)) throw new Error(`holding R's share: ${JSON.stringify(held.map((h) => h.status))}`)
  return { name, gw, ...(inspectorPort === undefined ? {} : { profiler: await profiler(inspectorPort) }), a, b, r, sessionsA, sessionsB, bClient, rounds: [] }
}

async function round (s: Subject, simUrl: string, token: string): Promise<Round> {
  const pid = s.gw.child.proc.pid!
  const n = s.rounds.length + 1
  // refusals: R's share is held (see subject); R's end users not seen before send BURST more
  // (on sessions that do not exist: a refusal comes before the session is read), then again
  const users = Array.from({ length: BURST }, (_, i) => ({ user: `r${n}-${i}`, sessionId: randomUUID() }))
  const refusals = async (what: string): Promise<Refusals> => {
    const burstR = await burstOf(s.gw, s.r, users)
    await s.profiler?.start()
    const cpu0 = await cpuOf(pid)
    const t0 = wallNow()
    const outcomes = await burstR.fire()
    const answeredMs = wallNow() - t0
    await new Promise((resolve) => setTimeout(resolve, 100))
    const cpu = await cpuOf(pid)
    await s.profiler?.stop(join(args.profile ?? '', `refusals-${what}-${n}.cpuprofile`))
    const refused = outcomes.filter((x) => x.status === 429).length
    if (refused !== BURST) process.stderr.write(`  ${s.name}: ${BURST - refused} of R's burst not refused with 429: ${JSON.stringify(outcomes.filter((x) => x.status !== 429).slice(0, 3))}\n`)
    return { refused, cpuMs: (cpu.user + cpu.sys - cpu0.user - cpu0.sys) * 1000 / refused, sysMs: (cpu.sys - cpu0.sys) * 1000 / refused, answeredMs }
  }
  const newUsers = await refusals('new')
  await new Promise((resolve) => setTimeout(resolve, 500))
  const knownUsers = await refusals('known')
  await new Promise((resolve) => setTimeout(resolve, 500))

  // fairness: A bursts; B (warm connection, new connection) and the direct call 100 ms later
  const burstA = await burstOf(s.gw, s.a, s.sessionsA.map((sessionId, i) => ({ user: `a${i}`, sessionId })))
  const newClientB = new Agent({ ...agentOptions, connections: 1 })
  await s.profiler?.start()
  const cpu1 = await cpuOf(pid)
  const overflows0 = await listenOverflows()
  const burst = burstA.fire()
  await new Promise((resolve) => setTimeout(resolve, 100))
  const [bWarm, bNew, directMs] = await Promise.all([
    viaGateway(s.gw, s.bClient, s.b, 'b0', s.sessionsB[0]!),
    viaGateway(s.gw, newClientB, s.b, 'b1', s.sessionsB[1]!),
    direct(simUrl, token)
  ])
  const outcomes = await burst
  const cpu2 = await cpuOf(pid)
  const overflows = await listenOverflows() - overflows0
  await s.profiler?.stop(join(args.profile ?? '', `fairness-${n}.cpuprofile`))
  await newClientB.close()
  for (const [who, turn] of [['B (warm)', bWarm], ['B (new)', bNew]] as const) if (turn.status !== 200) process.stderr.write(`  ${s.name}: ${who} refused with ${turn.status}\n`)
  return {
    newUsers,
    knownUsers,
    bWarmMs: bWarm.firstMs,
    bNewMs: bNew.firstMs,
    directMs,
    aServed: outcomes.filter((o) => o.status === 200).length,
    aRefused: outcomes.filter((o) => o.status !== 200).length,
    fairnessCpuMs: (cpu2.user + cpu2.sys - cpu1.user - cpu1.sys) * 1000,
    overflows
  }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  if (args.profile !== undefined) await mkdir(args.profile, { recursive: true })
  const children: Child[] = []
  const subjects: Subject[] = []
  try {
    // R's holders: a heartbeat-only turn lasts SIM_GENERATION_MS
    const sim = await startSimulator({ SIM_STEP_DELAY_MS: '50', SIM_GENERATION_MS: '600000', SIM_HEARTBEAT_INTERVAL_MS: '5000' })
    children.push(sim.child)
    const token = (await json(`${sim.url}/api/auth/anonymous-token`, { method: 'POST', headers: { 'x-client-id': 'bench-fairness' } })).data.token as string
    const nodeArgs = args['gateway-node-args'].split(' ').filter((a) => a !== '')
    subjects.push(await subject('this build', sim.url, undefined, nodeArgs))
    if (args.baseline !== undefined) subjects.push(await subject('baseline', sim.url, args.baseline, []))
    for (let i = 0; i < ROUNDS; i++) {
      for (const s of subjects) {
        const r = await round(s, sim.url, token)
        s.rounds.push(r)
        const said = (x: Refusals) => `${x.cpuMs.toFixed(2)} ms CPU each (${x.sysMs.toFixed(2)} system), answered in ${x.answeredMs.toFixed(0)} ms`
        process.stderr.write(`round ${i + 1} ${s.name}: refusals, new users ${said(r.newUsers)}; known users ${said(r.knownUsers)}; ` +
          `A ${r.aServed} served ${r.aRefused} refused (${r.fairnessCpuMs.toFixed(0)} ms CPU); B's first text ${r.bWarmMs.toFixed(0)} ms (warm connection), ${r.bNewMs.toFixed(0)} ms (new connection), direct ${r.directMs.toFixed(0)} ms; ${r.overflows} listen overflows\n`)
        // A's served turns end, connections settle
        await new Promise((resolve) => setTimeout(resolve, 1000))
      }
    }
    const date = new Date().toISOString()
    const report = { date, machine: machine(), settings: { burst: BURST, rounds: ROUNDS, share: SHARE, logLevel: args['log-level'], baseline: args.baseline ?? null }, subjects: subjects.map((s) => ({ name: s.name, rounds: s.rounds })) }
    const table = [
      runLine(date, `one tenant's burst of ${BURST} turns at once (a new connection each), its share ${SHARE} turns, LOG_LEVEL=${args['log-level']}; ${ROUNDS} rounds, median (min-max); ms.`),
      '',
      `| gateway | CPU per refusal, new users (system) | CPU per refusal, known users (system) | ${BURST} refusals answered in (known users) | B first text, warm connection | B first text, new connection | direct | B warm minus direct | B new minus direct | A served / refused |`,
      '| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |',
      ...subjects.map((s) => {
        const st = (f: (r: Round) => number, d = 0) => range(stat(s.rounds.map(f)), d)
        return `| ${s.name} | ${st((r) => r.newUsers.cpuMs, 2)} (${st((r) => r.newUsers.sysMs, 2)}) | ${st((r) => r.knownUsers.cpuMs, 2)} (${st((r) => r.knownUsers.sysMs, 2)}) | ${st((r) => r.knownUsers.answeredMs)} | ${st((r) => r.bWarmMs)} | ${st((r) => r.bNewMs)} | ${st((r) => r.directMs)} | ${st((r) => r.bWarmMs - r.directMs)} | ${st((r) => r.bNewMs - r.directMs)} | ${st((r) => r.aServed)} / ${st((r) => r.aRefused)} |`
      })
    ].join('\n')
    await writeResults('fairness', report, table)
  } finally {
    for (const s of subjects) { s.profiler?.close(); await s.bClient.close(); await stopGateway(s.gw) }
    for (const c of children.reverse()) await stop(c)
    await burstClient.close()
  }
}

await main()
