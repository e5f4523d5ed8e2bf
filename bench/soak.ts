// `npm run bench -- --soak` (or `node --import=tsx bench/soak.ts [--turns 2000 --sessions 20]`):
// many turns in a row, the gateway's memory sampled as they go.
//
// The simulator and the gateway from dist/ (pinned like the other benchmarks, the gateway with
// its inspector open on a free port). `--sessions` sessions each run turns one after another
// (`[scenario:text]`, 202 then the turn polled until it ends), all sessions at once, until
// `--turns` turns have ended. Every `--every` turns: the gateway's VmRSS and V8 heap in use
// (no forced collection: what the process really holds then). At the end, the same after a full
// garbage collection; `--snapshots DIR` writes a heap snapshot after warm-up and at the end
// (compare them in Chrome DevTools' Memory tab) when RSS grew. Writes
// bench/results/soak-latest.json and the table between the bench:soak markers of bench/README.md.
import { writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { freePort } from './free-port.ts'
import {
  buildDist, collectGarbage, heapKiB, inspectorCall, json, pinSelf, rssKiB, runLine, startGateway, startSimulator, stop, stopGateway, writeResults, type Child, type Gateway
} from './lib.ts'

const { values: args } = parseArgs({
  options: {
    turns: { type: 'string', default: '2000' },
    sessions: { type: 'string', default: '20' },
    every: { type: 'string', default: '100' },
    /** Turns before the first sample that counts as "after warm-up". */
    warmup: { type: 'string', default: '200' },
    snapshots: { type: 'string' },
    /** The gateway of another checkout with a built dist/ (e.g. the commit before a change). */
    gateway: { type: 'string' },
    'no-write': { type: 'boolean', default: false }
  }
})
const TURNS = Number(args.turns)
const SESSIONS = Number(args.sessions)
const EVERY = Number(args.every)
const WARMUP = Number(args.warmup)
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

interface Sample { turns: number, seconds: number, rssKiB: number, heapUsedKiB: number }

async function snapshot (inspectorPort: number, file: string): Promise<void> {
  // chunks arrive as HeapProfiler.addHeapSnapshotChunk events: a socket of our own
  const { default: WebSocket } = await import('ws')
  const targets = await (await request(`http://127.0.0.1:${inspectorPort}/json/list`)).body.json() as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl, { maxPayload: 1024 * 1024 * 1024 })
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  const chunks: string[] = []
  await new Promise<void>((resolve) => {
    socket.on('message', (data) => {
      const m = JSON.parse(String(data)) as { id?: number, method?: string, params?: { chunk: string } }
      if (m.method === 'HeapProfiler.addHeapSnapshotChunk') chunks.push(m.params!.chunk)
      if (m.id === 1) resolve()
    })
    socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.takeHeapSnapshot', params: { reportProgress: false } }))
  })
  socket.close()
  await writeFile(file, chunks.join(''))
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const children: Child[] = []
  let gw: Gateway | undefined
  try {
    const sim = await startSimulator()
    children.push(sim.child)
    const inspectorPort = await freePort()
    gw = await startGateway(sim.url, { HEARTBEAT_EVENT_INTERVAL_MS: '0' }, [`--inspect=127.0.0.1:${inspectorPort}`], args.gateway)
    const pid = gw.child.proc.pid!
    const as = { authorization: `Bearer ${gw.key}`, 'x-user-id': 'soak' }
    const sessions: string[] = []
    for (let i = 0; i < SESSIONS; i++) sessions.push((await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: as, body: {} })).id)

    const started = Date.now()
    const samples: Sample[] = []
    const sample = async (turns: number) => {
      const heap = await heapKiB(inspectorPort)
      samples.push({ turns, seconds: (Date.now() - started) / 1000, rssKiB: (await rssKiB(pid)) ?? NaN, heapUsedKiB: heap.usedKiB })
      process.stderr.write(`${turns} turns: RSS ${(samples.at(-1)!.rssKiB / 1024).toFixed(1)} MiB, heap used ${(heap.usedKiB / 1024).toFixed(1)} MiB\n`)
    }
    await sample(0)
    let ended = 0
    let failed = 0
    let next = 0
    let sampling = Promise.resolve()
    const gw0 = gw
    const runTurn = async (sessionId: string) => {
      const res = await request(`${gw0.url}/v1/sessions/${sessionId}/turns`, { method: 'POST', headers: { ...as, 'content-type': 'application/json' }, body: JSON.stringify({ text: '[scenario:text] soak' }) })
      const turn = await res.body.json() as { id: string }
      if (res.statusCode !== 202) throw new Error(`turn: ${res.statusCode} ${JSON.stringify(turn)}`)
      for (;;) {
        await sleep(20)
        const t = await json(`${gw0.url}/v1/sessions/${sessionId}/turns/${turn.id}`, { headers: as })
        if (t.status !== 'running') return t.status as string
      }
    }
    await Promise.all(sessions.map(async (sessionId) => {
      while (next < TURNS) {
        next++
        const status = await runTurn(sessionId)
        if (status !== 'completed') failed++
        ended++
        if (ended % EVERY === 0) {
          const at = ended
          sampling = sampling.then(async () => await sample(at))
        }
      }
    }))
    await sampling
    if (args.snapshots !== undefined) {
      await collectGarbage(inspectorPort)
      await snapshot(inspectorPort, join(args.snapshots, 'soak-end.heapsnapshot'))
    }
    await sleep(1000)
    await collectGarbage(inspectorPort)
    await sleep(1000)
    const settled = { rssKiB: (await rssKiB(pid)) ?? NaN, heapUsedKiB: (await heapKiB(inspectorPort)).usedKiB }
    await inspectorCall(inspectorPort, 'Runtime.evaluate', { expression: '1' })

    const after = samples.filter((s) => s.turns >= WARMUP)
    const first = after[0]!
    const last = after.at(-1)!
    const maxRss = Math.max(...after.map((s) => s.rssKiB))
    const minRss = Math.min(...after.map((s) => s.rssKiB))
    const growth = { rssKiB: last.rssKiB - first.rssKiB, heapUsedKiB: last.heapUsedKiB - first.heapUsedKiB, perTurnRssBytes: (last.rssKiB - first.rssKiB) * 1024 / Math.max(1, last.turns - first.turns) }
    const date = new Date().toISOString()
    const report = { date, settings: { turns: TURNS, sessions: SESSIONS, every: EVERY, warmup: WARMUP }, failed, seconds: (Date.now() - started) / 1000, samples, settled, growth }
    const mib = (k: number) => (k / 1024).toFixed(1)
    const table = [
      runLine(date, `${TURNS} \`[scenario:text]\` turns, ${SESSIONS} sessions at once, one turn after another in each; ${failed} not completed; ${report.seconds.toFixed(0)} s.`),
      '',
      '| turns | RSS MiB | V8 heap used MiB |',
      '| --- | --- | --- |',
      ...samples.map((s) => `| ${s.turns} | ${mib(s.rssKiB)} | ${mib(s.heapUsedKiB)} |`),
      `| after, full GC | ${mib(settled.rssKiB)} | ${mib(settled.heapUsedKiB)} |`,
      '',
      `After warm-up (${first.turns} -> ${last.turns} turns): RSS ${mib(first.rssKiB)} -> ${mib(last.rssKiB)} MiB (range ${mib(minRss)}-${mib(maxRss)}), ${growth.perTurnRssBytes.toFixed(0)} bytes per turn; heap used ${mib(first.heapUsedKiB)} -> ${mib(last.heapUsedKiB)} MiB.`
    ].join('\n')
    if (args['no-write'] === true) process.stdout.write(table + '\n')
    else await writeResults('soak', report, table)
  } finally {
    if (gw) await stopGateway(gw)
    for (const c of children.reverse()) await stop(c)
  }
}

await main()
