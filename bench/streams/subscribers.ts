// `node --import=tsx bench/streams/subscribers.ts [--quick] [--subscribers 1000]`: many
// GraphQL subscribers (graphql-ws, one WebSocket each) on one session while a turn runs.
//
// The simulator and the gateway run as separate processes from the compiled build (`dist/`),
// pinned with taskset where it exists (the gateway on CPU 0; the simulator and this client on
// CPU 1), the gateway on its embedded Postgres in a temporary DATA_DIR. Measures the gateway's
// RSS (VmRSS) before and after N idle subscriptions are open (=> KB per idle subscription),
// then runs one turn that writes many events (`[scenario:generation]` with every upstream
// heartbeat logged as an event) and, for every event, the spread of its receive times across
// the subscribers. Checks that every subscriber got every event exactly once, in order. Writes
// bench/results/subscribers-latest.json and the table between the bench:subscribers markers
// of bench/README.md (not with --no-write). Not part of `npm test`.
// The measured subscribers are lean (lean-subscriber.ts): a read is stamped before anything is
// parsed, so the stamps measure the gateway's fan-out rather than this client's own parsing
// (the client's CPU per message is reported beside the gateway's per socket).
import { spawnSync } from 'node:child_process'
import { mkdtemp, readFile, rm, writeFile, mkdir } from 'node:fs/promises'
import { cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { request } from 'undici'
import { freePort } from '../free-port.ts'
import { pin, pinSelf, root, start, stop, taskset, until, type Child } from '../lib.ts'
import { LeanSubscriber, type Received } from './lean-subscriber.ts'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    subscribers: { type: 'string' },
    /** A label stored with the result (e.g. "before", "after"). */
    label: { type: 'string', default: '' },
    /** The gateway of another checkout with a built dist/ (e.g. the commit before a change). */
    gateway: { type: 'string' },
    /** The simulator's heartbeat interval during the generation: one event each. */
    'heartbeat-ms': { type: 'string', default: '50' },
    'no-write': { type: 'boolean', default: false },
    /** `lean` (default) or `graphql-ws`: the client the bench used before, which stamps a message once graphql-ws has parsed it. */
    client: { type: 'string', default: 'lean' },
    /** Diagnosis: SIGWINCH to the gateway before and after the subscriptions open (with GW_NODE_ARGS="--heapsnapshot-signal=SIGWINCH --diagnostic-dir=DIR"). */
    'heap-snapshots': { type: 'boolean', default: false }
  }
})
const SUBSCRIBERS = Number(args.subscribers ?? (args.quick ? 100 : 1000))
/** Upstream heartbeat every 50 ms (by default) for 4 s of "generation": ~80 heartbeat events plus the turn's own. */
const SIM_ENV = { SIM_HEARTBEAT_INTERVAL_MS: args['heartbeat-ms'], SIM_GENERATION_MS: args.quick ? '2000' : '4000', SIM_STEP_DELAY_MS: '20' }
const OPEN_BATCH = 50

pinSelf()

const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

async function gql (url: string, headers: Record<string, string>, query: string, variables?: Record<string, unknown>): Promise<any> {
  // a gateway that has just started on a busy machine may still answer 503 (under pressure) for a moment
  for (let attempt = 1; ; attempt++) {
    const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: JSON.stringify({ query, variables }) })
    const body = await res.body.json() as any
    if (res.statusCode === 503 && attempt < 20) { await sleep(500); continue }
    if (res.statusCode >= 300 || body.errors) throw new Error(`${res.statusCode} ${JSON.stringify(body)}`)
    return body.data
  }
}

/** CPU time (user + system) a process has used so far, in ms (/proc/<pid>/stat, clock ticks of 10 ms). */
async function cpuMs (pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, 'utf8')).replace(/^.*\) /, '').split(' ')
  // utime and stime are the 14th and 15th fields; the 3rd is the first after the command's ')'
  return (Number(fields[11]) + Number(fields[12])) * 10
}

async function rssKb (pid: number): Promise<number> {
  const status = await readFile(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1])
}

/** Asks the gateway's V8 for a full garbage collection, through its inspector. */
async function collectGarbage (inspectorPort: number): Promise<void> {
  const targets = await (await request(`http://127.0.0.1:${inspectorPort}/json/list`)).body.json() as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  await new Promise<void>((resolve) => {
    socket.on('message', (data) => { if ((JSON.parse(String(data)) as { id?: number }).id === 1) resolve() })
    socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }))
  })
  socket.close()
}

/**
 * RSS of what is kept, not of garbage not yet collected (without a collection, runs differed
 * by 40 KB per subscription): a full GC, a moment of quiet, then the median of a few samples.
 */
async function settledRss (pid: number, inspectorPort: number): Promise<number> {
  await sleep(2000)
  await collectGarbage(inspectorPort)
  await collectGarbage(inspectorPort)
  await sleep(2000)
  const samples: number[] = []
  for (let i = 0; i < 5; i++) { samples.push(await rssKb(pid)); await sleep(1000) }
  return median(samples)
}

/**
 * The gateway's own time to hand one event to every subscriber (`gateway_graphql_fan_out_duration`,
 * a histogram: the p50 / p99 are bucket bounds); absent from a gateway without shared executions.
 */
async function fanOut (gwUrl: string): Promise<{ events: number, meanMs: number, p50Ms: number, p99Ms: number } | undefined> {
  const lines = (await (await request(`${gwUrl}/metrics`)).body.text()).split('\n').filter((l) => l.startsWith('gateway_graphql_fan_out_duration'))
  const value = (l: string) => Number(l.split(' ').pop())
  const count = value(lines.find((l) => l.includes('_count')) ?? ' NaN')
  const sum = value(lines.find((l) => l.includes('_sum')) ?? ' NaN')
  if (!(count > 0)) return undefined
  const buckets = lines.filter((l) => l.includes('_bucket')).map((l) => ({ le: Number(/le="([^"]+)"/.exec(l)?.[1] ?? 'Infinity'), n: value(l) }))
  const at = (q: number) => (buckets.find((b) => b.n >= q * count)?.le ?? Infinity) * 1000
  return { events: count, meanMs: round(sum / count * 1000), p50Ms: at(0.5), p99Ms: at(0.99) }
}

async function openSubscriptions (gwUrl: string): Promise<number> {
  const text = await (await request(`${gwUrl}/metrics`)).body.text()
  const line = text.split('\n').find((l) => l.startsWith('gateway_graphql_open_subscriptions') && l.includes('session_events'))
  return Number(line?.split(' ').pop() ?? 0)
}

const median = (xs: number[]): number => { const s = [...xs].sort((a, b) => a - b); return s[Math.floor(s.length / 2)] ?? NaN }
const quantile = (sorted: number[], q: number): number => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN

const SUBSCRIPTION = 'subscription ($id: ID!, $after: String) { sessionEvents(sessionId: $id, after: $after) { cursor sessionId turnId type payload createdAt } }'

/** What the bench asks of a client: LeanSubscriber, or graphql-ws as the bench used it before. */
type SubscriberClient = Pick<LeanSubscriber, 'open' | 'lastMessageHas' | 'received' | 'close' | 'failure'>

/** A graphql-ws client that stamps each event in its `next` (after ws and graphql-ws have parsed it). */
class GraphqlWsSubscriber implements SubscriberClient {
  failure: string | undefined
  private client: ReturnType<typeof createClient> | undefined
  private readonly messages: Received[] = []
  private checked = 0

  async open (url: URL, connectionParams: Record<string, string>, query: string, variables: Record<string, unknown>): Promise<void> {
    this.client = createClient({ url: url.href, webSocketImpl: WebSocket, connectionParams, retryAttempts: 0, lazy: false, keepAlive: 0 })
    this.client.subscribe({ query, variables }, {
      next: (result) => { this.messages.push({ at: performance.now(), message: { type: 'next', payload: result } }) },
      error: (err) => { this.failure ??= err instanceof Error ? err.message : (err as { reason?: string }).reason ?? JSON.stringify(err) },
      complete: () => {}
    })
  }

  lastMessageHas (texts: string[]): boolean {
    if (this.messages.length === this.checked) return false
    this.checked = this.messages.length
    const type = (this.messages.at(-1)!.message.payload as { data?: { sessionEvents?: { type?: string } } }).data?.sessionEvents?.type
    return texts.some((text) => text === JSON.stringify(type))
  }

  received (): Received[] { return this.messages }

  close (): void { Promise.resolve(this.client?.dispose()).catch(() => {}) }
}

interface Subscriber { client: SubscriberClient, cursors: string[], types: string[], times: number[], error?: string }

async function main (): Promise<void> {
  const build = spawnSync(process.execPath, ['scripts/build.js', '--if-stale'], { cwd: root, stdio: 'inherit' })
  if (build.status !== 0) throw new Error('build failed')
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-bench-subs-'))
  const children: Child[] = []
  const subscribers: Subscriber[] = []
  try {
    const simPort = await freePort()
    const sim = start(pin(1, [process.execPath, 'dist/simulator/server.js']), { SIM_PORT: String(simPort), SIM_LOG_LEVEL: 'warn', SIM_MINT_LIMIT_PER_IP: '100000', SIM_MINT_LIMIT_PER_CLIENT: '100000', ...SIM_ENV })
    children.push(sim)
    const simUrl = `http://127.0.0.1:${simPort}`
    await until('simulator', sim, async () => (await request(`${simUrl}/__sim/counters`)).statusCode === 200 ? true : undefined)

    const gwPort = await freePort()
    // GW_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/p" passes node flags to the gateway
    const nodeArgs = (process.env.GW_NODE_ARGS ?? '').split(' ').filter((a) => a !== '')
    // the inspector only answers the bench's garbage collections (settledRss)
    const inspectorPort = await freePort()
    nodeArgs.push(`--inspect=127.0.0.1:${inspectorPort}`)
    const gw = start(pin(0, [process.execPath, ...nodeArgs, '--import=./dist/telemetry.js', 'dist/server.js']), {
      NEMO_BASE_URL: simUrl,
      LOG_LEVEL: 'warn',
      RATE_LIMIT_MAX: '100000000',
      MINT_LIMIT_PER_IP: '100000',
      HEARTBEAT_EVENT_INTERVAL_MS: '0',
      // no WebSocket pings during the run: the end of the turn is looked for in each subscriber's
      // last read, and a ping read after it (15 s after the connections opened) hid it
      GRAPHQL_KEEPALIVE_MS: '600000',
      // every subscriber connects with the one first-run key
      GRAPHQL_MAX_CONNECTIONS_PER_KEY: String(SUBSCRIBERS + 10),
      DATA_DIR: dataDir,
      PORT: String(gwPort)
    }, args.gateway ?? root)
    children.push(gw)
    const gwUrl = `http://127.0.0.1:${gwPort}`
    const wsUrl = `ws://127.0.0.1:${gwPort}/graphql`
    const key = await until('gateway', gw, async () => /Bearer (ngw_\S+)"/.exec(gw.out())?.[1])
    const as = { authorization: `Bearer ${key}`, 'x-user-id': 'bench' }
    const session = (await gql(`${gwUrl}/graphql`, as, 'mutation { createSession(title: "subscribers") { id lastEventCursor } }')).createSession

    // warm-up: a few subscriptions open and closed, so lazily built code is not counted per subscription
    {
      const warm = createClient({ url: wsUrl, webSocketImpl: WebSocket, connectionParams: as, retryAttempts: 0 })
      for (let i = 0; i < 5; i++) {
        const off = warm.subscribe({ query: SUBSCRIPTION, variables: { id: session.id, after: session.lastEventCursor } }, { next: () => {}, error: () => {}, complete: () => {} })
        await until('warm-up subscription', gw, async () => await openSubscriptions(gwUrl) === 1 ? true : undefined, 10_000)
        off()
        await until('warm-up subscription end', gw, async () => await openSubscriptions(gwUrl) === 0 ? true : undefined, 10_000)
      }
      await warm.dispose()
    }

    // as it is (no forced GC) and after a full GC: "as it grew" compares like with like (a
    // forced GC also shrinks V8's young generation, which regrows by tens of MB whatever N is)
    await sleep(2000)
    const rssBeforeAsIs = await rssKb(gw.proc.pid!)
    const rssBefore = await settledRss(gw.proc.pid!, inspectorPort)
    if (args['heap-snapshots']) { gw.proc.kill('SIGWINCH'); await sleep(15_000) }
    const opened = performance.now()
    for (let i = 0; i < SUBSCRIBERS; i += OPEN_BATCH) {
      const batch: Array<Promise<void>> = []
      for (let j = i; j < Math.min(SUBSCRIBERS, i + OPEN_BATCH); j++) {
        const sub: Subscriber = { client: args.client === 'graphql-ws' ? new GraphqlWsSubscriber() : new LeanSubscriber(), cursors: [], types: [], times: [] }
        // a subscription that fails is counted as failed (and left out of the timings)
        batch.push(sub.client.open(new URL(wsUrl), as, SUBSCRIPTION, { id: session.id, after: session.lastEventCursor }).catch((err: Error) => { sub.error ??= err.message }))
        subscribers.push(sub)
      }
      await Promise.all(batch)
      const want = subscribers.filter((s) => s.error === undefined).length
      await until('subscriptions', gw, async () => await openSubscriptions(gwUrl) >= want ? true : undefined, 60_000)
    }
    const openMs = performance.now() - opened
    // as it grew (garbage not yet collected included: what the process really takes on), then kept
    await sleep(1000)
    const rssGrown = await rssKb(gw.proc.pid!)
    const rssAfter = await settledRss(gw.proc.pid!, inspectorPort)
    if (args['heap-snapshots']) { gw.proc.kill('SIGWINCH'); await sleep(20_000) }
    const kbPerSubscription = (rssAfter - rssBefore) / SUBSCRIBERS
    const kbGrownPerSubscription = (rssGrown - rssBefore) / SUBSCRIBERS
    const kbAsIsPerSubscription = (rssGrown - rssBeforeAsIs) / SUBSCRIBERS
    process.stderr.write(`${SUBSCRIBERS} subscriptions open in ${openMs.toFixed(0)} ms; RSS ${rssBeforeAsIs} -> ${rssGrown} kB as it grew, no GC at either end (${kbAsIsPerSubscription.toFixed(1)} kB each); ${rssBefore} (after a GC) -> ${rssGrown} kB (${kbGrownPerSubscription.toFixed(1)} kB each); ${rssAfter} kB after a full GC (${kbPerSubscription.toFixed(1)} kB each)\n`)

    const turnStarted = performance.now()
    const clientCpu = process.cpuUsage()
    const gatewayCpuBefore = await cpuMs(gw.proc.pid!)
    await gql(`${gwUrl}/graphql`, as, 'mutation ($id: ID!, $text: String!) { sendMessage(sessionId: $id, text: $text) { id } }', { id: session.id, text: '[scenario:generation] make a video of the sea' })
    // the end is looked for every 250 ms in the last bytes each subscriber received (nothing is parsed while events arrive)
    const ends = ['"turn.completed"', '"turn.failed"']
    const ended = new Set<Subscriber>()
    const deadline = Date.now() + 120_000
    while (ended.size < subscribers.length) {
      for (const s of subscribers) if (!ended.has(s) && (s.error !== undefined || s.client.failure !== undefined || s.client.lastMessageHas(ends))) ended.add(s)
      if (ended.size === subscribers.length) break
      if (Date.now() > deadline) throw new Error('the subscribers did not all see the turn end within 120 s')
      await sleep(250)
    }
    const clientCpuUs = process.cpuUsage(clientCpu)
    const gatewayCpu = await cpuMs(gw.proc.pid!) - gatewayCpuBefore
    const gatewayFanOut = await fanOut(gwUrl).catch(() => undefined)

    for (const sub of subscribers) {
      if (sub.error !== undefined) continue
      for (const { at, message } of sub.client.received()) {
        if (message.type === 'error') { sub.error ??= JSON.stringify(message.payload); break }
        if (message.type !== 'next') continue
        if (message.payload?.errors !== undefined) { sub.error ??= JSON.stringify(message.payload.errors); break }
        const e = message.payload.data.sessionEvents as { cursor: string, type: string }
        sub.cursors.push(e.cursor)
        sub.types.push(e.type)
        sub.times.push(at)
      }
      sub.error ??= sub.client.failure
    }
    const failed = subscribers.filter((s) => s.error !== undefined)
    if (failed.length > 0) process.stderr.write(`${failed.length} subscriptions failed, e.g. ${failed[0]!.error}\nthe gateway said:\n${gw.out().slice(-4000)}\n`)
    const served = subscribers.filter((s) => s.error === undefined)
    if (served.length === 0) throw new Error('every subscription failed')
    // every subscriber saw the same events, once each, in order
    const reference = served[0]!.cursors
    // until the last subscriber received the turn's end
    const turnMs = Math.max(...served.map((s) => s.times.at(-1)!)) - turnStarted
    const ordered = reference.every((c, i) => i === 0 || BigInt(c) > BigInt(reference[i - 1]!))
    const identical = served.every((s) => s.cursors.length === reference.length && s.cursors.every((c, i) => c === reference[i]))
    if (!ordered || !identical) throw new Error('subscribers disagree on the events they received (lost, repeated or reordered)')
    // this client's CPU per message received, against the gateway's own time per socket: the
    // stamps measure the gateway only while the first is the smaller
    const messages = served.length * reference.length
    const client = {
      cpuUsPerMessage: round((clientCpuUs.user + clientCpuUs.system) / messages),
      gatewayUsPerSocket: gatewayFanOut === undefined ? undefined : round(gatewayFanOut.meanMs * 1000 / SUBSCRIBERS)
    }
    // the gateway's CPU through the turn (its own work per event included) per message delivered:
    // unlike the fan-out's wall time, not stretched by other processes on its CPU
    const gatewayCpuUsPerMessage = round(gatewayCpu * 1000 / messages)

    const spreads: number[] = []
    const delays: number[] = []
    const byEvent: Array<{ type: string, spread: number }> = []
    for (let i = 0; i < reference.length; i++) {
      const times = served.map((s) => s.times[i]!)
      const first = Math.min(...times)
      spreads.push(Math.max(...times) - first)
      byEvent.push({ type: served[0]!.types[i]!, spread: round(Math.max(...times) - first) })
      for (const t of times) delays.push(t - first)
    }
    spreads.sort((a, b) => a - b)
    delays.sort((a, b) => a - b)
    const commit = spawnSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root, encoding: 'utf8' }).stdout.trim() + (args.gateway === undefined ? '' : ' (gateway: another build)')
    const report = {
      date: new Date().toISOString(),
      commit,
      label: args.label,
      machine: { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, taskset },
      settings: { subscribers: SUBSCRIBERS, simulator: SIM_ENV, heartbeatEventIntervalMs: 0, client: args.client },
      failedSubscriptions: failed.length,
      events: reference.length,
      eventTypes: Object.fromEntries([...new Set(served[0]!.types)].map((type) => [type, served[0]!.types.filter((x) => x === type).length])),
      turnMs: Math.round(turnMs),
      rssKb: { beforeAsIs: rssBeforeAsIs, before: rssBefore, grown: rssGrown, after: rssAfter, perSubscriptionAsIs: Number(kbAsIsPerSubscription.toFixed(1)), perSubscriptionGrown: Number(kbGrownPerSubscription.toFixed(1)), perSubscription: Number(kbPerSubscription.toFixed(1)) },
      delivery: { p50: round(quantile(delays, 0.5)), p99: round(quantile(delays, 0.99)), max: round(delays[delays.length - 1]!) },
      spread: { p50: round(quantile(spreads, 0.5)), p99: round(quantile(spreads, 0.99)), max: round(spreads[spreads.length - 1]!) },
      gatewayFanOut,
      gatewayCpuMs: gatewayCpu,
      gatewayCpuUsPerMessage,
      client,
      widestSpreads: byEvent.sort((a, b) => b.spread - a.spread).slice(0, 5)
    }
    console.log(JSON.stringify(report, null, 2))
    if (args['no-write']) return
    await mkdir(join(root, 'bench', 'results'), { recursive: true })
    await writeFile(join(root, 'bench', 'results', 'subscribers-latest.json'), JSON.stringify(report, null, 2) + '\n')
    const ending = served[0]!.types.at(-1)
    const row = `| ${report.label || '-'} | ${commit} | ${SUBSCRIBERS} | ${report.events}${ending === 'turn.completed' ? '' : ` (${ending})`}, heartbeat ${args['heartbeat-ms']} ms | ${report.delivery.p50} / ${report.delivery.p99} ms | ${report.spread.p50} / ${report.spread.p99} / ${report.spread.max} ms | ${report.rssKb.perSubscriptionAsIs} / ${report.rssKb.perSubscriptionGrown} / ${report.rssKb.perSubscription} KB (${rssBeforeAsIs}, ${rssBefore} -> ${rssGrown} / ${rssAfter} kB) | ${failed.length} |`
    const readmePath = join(root, 'bench', 'README.md')
    const readme = await readFile(readmePath, 'utf8')
    const marked = /<!-- bench:subscribers:start -->\n([\s\S]*?)<!-- bench:subscribers:end -->/
    const match = marked.exec(readme)
    if (match) {
      // one row per label: a new run replaces the row of the same label
      const header = '| run | commit | subscribers | events, event rate | delivery p50 / p99 | spread p50 / p99 / max | RSS per idle subscription: as it grew (no GC at either end) / grown from a collected start / after a full GC | failed subscriptions |\n| --- | --- | --- | --- | --- | --- | --- | --- |'
      const rows = match[1]!.split('\n').filter((l) => l.startsWith('| ') && !l.startsWith('| run ') && !l.startsWith('| ---') && !l.startsWith(`| ${report.label || '-'} |`))
      const note = `Last run ${report.date}: ${report.machine.cores} cores (${report.machine.cpu}), Node ${process.version}, taskset ${taskset ? 'yes' : 'no'}.`
      await writeFile(readmePath, readme.replace(marked, `<!-- bench:subscribers:start -->\n${header}\n${[...rows, row].join('\n')}\n\n${note}\n<!-- bench:subscribers:end -->`))
    }
  } finally {
    for (const s of subscribers) s.client.close()
    for (const c of children.reverse()) await stop(c)
    await rm(dataDir, { recursive: true, force: true })
  }
}

function round (ms: number): number { return Number(ms.toFixed(1)) }

await main()
