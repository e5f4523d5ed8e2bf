// `node --import=tsx bench/streams/relay.ts [--quick]`: the SSE relay, side by side.
//
// One turn of N text events read straight from the simulator's /run_sse, and the same turn
// through the gateway's POST /v1/sessions/:id/turns (Accept: text/event-stream). The simulator's
// `burst` scenario stamps every text with the wall-clock ms it wrote the frame at, and the
// gateway keeps the text, so each event's delay is its arrival here minus that stamp, on either
// path (the same two clocks: any offset cancels in the difference). Turns alternate direct and
// gateway cells over several rounds; medians with min-max. Then the memory of open streams:
// GET /v1/sessions/:id/events streams on idle sessions (1,000; --streams), the gateway's VmRSS
// before and after, with no forced GC at either end and from a collected start (--memory-only:
// just that, printed, the README left alone).
import { setMaxListeners } from 'node:events'
import { parseArgs } from 'node:util'
import { request, type Dispatcher } from 'undici'
import {
  buildDist, collectGarbage, json, machine, newSpaceKiB, pinSelf, range, rssKiB, runLine, sseFrames, startGateway, startSimulator, stat, stop, stopGateway, wallNow, writeResults, type Child, type Gateway
} from '../lib.ts'
import { freePort } from '../free-port.ts'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p". */
    'gateway-node-args': { type: 'string', default: '' },
    /** Another checkout with a built dist/ (e.g. the commit before a change): a third cell per round. */
    baseline: { type: 'string' },
    /** Open streams for the memory measure (default 1000; 200 with --quick). */
    streams: { type: 'string' },
    /** Only the memory of open streams (no turns; the README table is not written). */
    'memory-only': { type: 'boolean', default: false }
  }
})
const QUICK = args.quick
const EVENTS = QUICK ? 10 : 20
const STEP_MS = 20
const TURNS = QUICK ? 4 : 10
const ROUNDS = QUICK ? 2 : 3
// 50 streams gave ~5 MiB of signal against several MiB of V8 heap noise: too few to tell
const STREAMS = Number(args.streams ?? (QUICK ? 200 : 1000))
const MEMORY_ROUNDS = QUICK ? 1 : 3
const OPEN_BATCH = 200
const TEXT = '[scenario:burst] relay benchmark'
const SENT = /sent at ([\d.]+) ms/

/** `endMs`: when the stream ended (the turn's end), from the request's start. */
interface Turn { firstMs: number, firstDelayMs: number, endMs: number, delaysMs: number[] }

/** Reads one turn's frames: when the first text came (from the request's start) and each text's delay. */
async function readTurn (body: AsyncIterable<Buffer>, t0: number, textOf: (event: string | null, data: any) => string | undefined): Promise<Turn> {
  const delays: number[] = []
  let firstMs = NaN
  for await (const f of sseFrames(body)) {
    if (f.comment || f.data === '') continue
    const text = textOf(f.event, JSON.parse(f.data))
    const sent = text === undefined ? null : SENT.exec(text)
    if (sent === null) continue
    if (delays.length === 0) firstMs = f.at - t0
    delays.push(f.at - Number(sent[1]))
  }
  const endMs = wallNow() - t0
  if (delays.length !== EVENTS) throw new Error(`a turn gave ${delays.length} of ${EVENTS} text events`)
  return { firstMs, firstDelayMs: delays[0]!, endMs, delaysMs: delays }
}

async function directTurn (simUrl: string, token: string, sessionId: string): Promise<Turn> {
  const t0 = wallNow()
  const res = await request(`${simUrl}/run_sse`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text: TEXT }] } })
  })
  if (res.statusCode !== 200) throw new Error(`/run_sse: ${res.statusCode} ${await res.body.text()}`)
  return await readTurn(res.body, t0, (_, d) => d?.content?.parts?.[0]?.text)
}

async function gatewayTurn (gw: Gateway, as: Record<string, string>, sessionId: string): Promise<Turn> {
  const t0 = wallNow()
  const res = await request(`${gw.url}/v1/sessions/${sessionId}/turns`, {
    method: 'POST',
    headers: { ...as, 'content-type': 'application/json', accept: 'text/event-stream' },
    body: JSON.stringify({ text: TEXT })
  })
  if (res.statusCode !== 200) throw new Error(`turns: ${res.statusCode} ${await res.body.text()}`)
  return await readTurn(res.body, t0, (event, d) => event === 'text' ? d?.payload?.text : undefined)
}

interface CellView { firstMs: number, firstDelayMs: number, endMs: number, p50Ms: number, p99Ms: number }

function cellOf (turns: Turn[]): CellView {
  const all = turns.flatMap((t) => t.delaysMs).sort((a, b) => a - b)
  return {
    firstMs: stat(turns.map((t) => t.firstMs)).median,
    firstDelayMs: stat(turns.map((t) => t.firstDelayMs)).median,
    endMs: stat(turns.map((t) => t.endMs)).median,
    p50Ms: all[Math.floor(all.length * 0.5)]!,
    p99Ms: all[Math.min(all.length - 1, Math.floor(all.length * 0.99))]!
  }
}

const pause = async (): Promise<void> => { await new Promise((resolve) => setTimeout(resolve, 1000)) }

/** Opens a `GET /v1/sessions/:id/events` stream on each session; resolves with what closes them. */
async function openStreams (gw: Gateway, as: Record<string, string>, sessionIds: string[]): Promise<() => void> {
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  // 200 at a time: a thousand at once on a loaded machine met the gateway's 503 (under pressure)
  const open: Dispatcher.ResponseData[] = []
  for (let i = 0; i < sessionIds.length; i += OPEN_BATCH) {
    open.push(...await Promise.all(sessionIds.slice(i, i + OPEN_BATCH).map(async (id) => {
      for (let attempt = 1; ; attempt++) {
        const res = await request(`${gw.url}/v1/sessions/${id}/events`, { headers: { ...as, accept: 'text/event-stream' }, signal: controller.signal })
        // under pressure for a moment after a forced GC's pause: asked again
        if (res.statusCode === 503 && attempt < 20) { await res.body.dump(); await pause(); continue }
        if (res.statusCode !== 200) throw new Error(`events stream: ${res.statusCode}`)
        const it = res.body[Symbol.asyncIterator]()
        await it.next() // ': connected'
        return res
      }
    })))
  }
  return () => {
    controller.abort()
    for (const res of open) res.body.destroy()
  }
}

/** RSS as it is before the streams open and 1 s after: no forced GC at either end (what a running process takes on). */
interface AsIsMemory { beforeKiB: number, afterKiB: number, perStreamKiB: number }

async function memoryAsIs (gw: Gateway, as: Record<string, string>, sessionIds: string[]): Promise<AsIsMemory> {
  const pid = gw.child.proc.pid!
  await pause()
  const beforeKiB = (await rssKiB(pid)) ?? NaN
  const close = await openStreams(gw, as, sessionIds)
  await pause()
  const afterKiB = (await rssKiB(pid)) ?? NaN
  close()
  await pause()
  return { beforeKiB, afterKiB, perStreamKiB: (afterKiB - beforeKiB) / sessionIds.length }
}

/**
 * RSS after a full GC, then 1 s after the streams opened ("as it grew" from a collected start),
 * then after a full GC again (what they keep). A forced GC also shrinks V8's young generation,
 * which regrows under any allocation whatever opens: `perStreamNewSpaceKiB` is how much its size
 * grew (not all of it resident).
 */
interface CollectedMemory { beforeKiB: number, afterKiB: number, afterGcKiB: number, perStreamKiB: number, perStreamAfterGcKiB: number, perStreamNewSpaceKiB: number }

async function memoryFromCollected (gw: Gateway, inspectorPort: number, as: Record<string, string>, sessionIds: string[]): Promise<CollectedMemory> {
  const pid = gw.child.proc.pid!
  await collectGarbage(inspectorPort)
  await pause()
  const beforeKiB = (await rssKiB(pid)) ?? NaN
  const newSpaceBefore = await newSpaceKiB(inspectorPort)
  const close = await openStreams(gw, as, sessionIds)
  await pause()
  const afterKiB = (await rssKiB(pid)) ?? NaN
  const newSpaceAfter = await newSpaceKiB(inspectorPort)
  await collectGarbage(inspectorPort)
  await pause()
  const afterGcKiB = (await rssKiB(pid)) ?? NaN
  close()
  await pause()
  const n = sessionIds.length
  return {
    beforeKiB,
    afterKiB,
    afterGcKiB,
    perStreamKiB: (afterKiB - beforeKiB) / n,
    perStreamAfterGcKiB: (afterGcKiB - beforeKiB) / n,
    perStreamNewSpaceKiB: (newSpaceAfter - newSpaceBefore) / n
  }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const children: Child[] = []
  const gateways: Gateway[] = []
  try {
    const sim = await startSimulator({ SIM_BURST_EVENTS: String(EVENTS), SIM_STEP_DELAY_MS: String(STEP_MS) })
    children.push(sim.child)
    const gwNodeArgs = args['gateway-node-args'].split(' ').filter((a) => a !== '')
    const as = (gw: Gateway) => ({ authorization: `Bearer ${gw.key}`, 'x-user-id': 'bench' })
    // the inspector only answers the memory measure's garbage collections
    const inspectorPort = await freePort()
    const gw = await startGateway(sim.url, { HEARTBEAT_EVENT_INTERVAL_MS: '0' }, [...gwNodeArgs, `--inspect=127.0.0.1:${inspectorPort}`])
    gateways.push(gw)
    const gwSession = (await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: as(gw), body: {} })).id as string
    const baseInspectorPort = await freePort()
    const base = args.baseline === undefined ? undefined : await startGateway(sim.url, { HEARTBEAT_EVENT_INTERVAL_MS: '0' }, [`--inspect=127.0.0.1:${baseInspectorPort}`], args.baseline)
    if (base) gateways.push(base)
    const baseSession = base === undefined ? '' : (await json(`${base.url}/v1/sessions`, { method: 'POST', headers: as(base), body: {} })).id as string

    const minted = await json(`${sim.url}/api/auth/anonymous-token`, { method: 'POST', headers: { 'x-client-id': 'bench-relay' } })
    const token = minted.data.token as string
    const simSession = (await json(`${sim.url}/api/tasks/me/with-session/nemo_agent`, { method: 'POST', headers: { authorization: `Bearer ${token}` }, body: { task_name: 'relay' } })).data.session_id as string

    const paths: Array<{ name: string, turn: () => Promise<Turn>, cells: CellView[] }> = [
      { name: 'direct', turn: async () => await directTurn(sim.url, token, simSession), cells: [] },
      { name: 'gateway', turn: async () => await gatewayTurn(gw, as(gw), gwSession), cells: [] },
      ...(base === undefined ? [] : [{ name: 'baseline', turn: async () => await gatewayTurn(base, as(base), baseSession), cells: [] }])
    ]
    // warm-up: a session's first turn reads its baseline state; JIT on every path
    for (let i = 0; i < 3; i++) for (const p of paths) await p.turn()
    for (let round = 1; round <= (args['memory-only'] ? 0 : ROUNDS); round++) {
      for (const p of paths) {
        const turns: Turn[] = []
        for (let i = 0; i < TURNS; i++) turns.push(await p.turn())
        p.cells.push(cellOf(turns))
      }
      process.stderr.write(`round ${round}: first text ${paths.map((p) => `${p.name} ${p.cells.at(-1)!.firstMs.toFixed(1)} ms`).join(', ')}\n`)
    }

    // the memory of open streams, rounds alternating between the gateways: first with no forced
    // GC at all (after one round not counted: code built lazily on a stream's first open, and
    // V8's young generation at its working size), then from a collected start
    const measured = [
      { name: 'gateway', gw, inspectorPort, asIs: [] as AsIsMemory[], collected: [] as CollectedMemory[] },
      ...(base === undefined ? [] : [{ name: 'baseline', gw: base, inspectorPort: baseInspectorPort, asIs: [] as AsIsMemory[], collected: [] as CollectedMemory[] }])
    ]
    const sessionIds = new Map<Gateway, string[]>()
    for (const m of measured) {
      const ids: string[] = []
      for (let i = 0; i < STREAMS; i++) ids.push((await json(`${m.gw.url}/v1/sessions`, { method: 'POST', headers: as(m.gw), body: {} })).id)
      sessionIds.set(m.gw, ids)
      await memoryAsIs(m.gw, as(m.gw), ids)
    }
    const kib = (x: number) => x.toFixed(1)
    for (let i = 0; i < MEMORY_ROUNDS; i++) {
      for (const m of measured) m.asIs.push(await memoryAsIs(m.gw, as(m.gw), sessionIds.get(m.gw)!))
      process.stderr.write(`memory round ${i + 1}, KiB per stream with no forced GC: ${measured.map((m) => `${m.name} ${kib(m.asIs.at(-1)!.perStreamKiB)}`).join(', ')}\n`)
    }
    for (let i = 0; i < MEMORY_ROUNDS; i++) {
      for (const m of measured) m.collected.push(await memoryFromCollected(m.gw, m.inspectorPort, as(m.gw), sessionIds.get(m.gw)!))
      process.stderr.write(`memory round ${i + 1}, KiB per stream from a collected start (young generation) / after a full GC: ${measured.map((m) => {
        const r = m.collected.at(-1)!
        return `${m.name} ${kib(r.perStreamKiB)} (${kib(r.perStreamNewSpaceKiB)}) / ${kib(r.perStreamAfterGcKiB)}`
      }).join(', ')}\n`)
    }
    const memoryOf = (m: typeof measured[number]) => ({
      asIs: m.asIs,
      collected: m.collected,
      perStreamAsIsKiB: stat(m.asIs.map((r) => r.perStreamKiB)),
      perStreamKiB: stat(m.collected.map((r) => r.perStreamKiB)),
      perStreamAfterGcKiB: stat(m.collected.map((r) => r.perStreamAfterGcKiB)),
      perStreamNewSpaceKiB: stat(m.collected.map((r) => r.perStreamNewSpaceKiB)),
      perStreamBeyondNewSpaceKiB: stat(m.collected.map((r) => r.perStreamKiB - r.perStreamNewSpaceKiB))
    })
    const memory = memoryOf(measured[0]!)
    const baseMemory = measured[1] === undefined ? undefined : memoryOf(measured[1])
    const memoryLine = (m: ReturnType<typeof memoryOf>) => `**${range(m.perStreamKiB)} KiB as it grew** from a collected start (no GC after; goal < 30 KiB), ` +
      `of which V8's young generation regrowing after the forced GC ${range(m.perStreamNewSpaceKiB)} KiB (its size; the same whatever opens), the rest ${range(m.perStreamBeyondNewSpaceKiB)} KiB; ` +
      `${range(m.perStreamAfterGcKiB)} KiB after a full GC; ${range(m.perStreamAsIsKiB)} KiB with no forced GC at either end (mostly when V8 last collected)`
    if (args['memory-only']) {
      console.log(JSON.stringify({ streams: STREAMS, memory, baseMemory }, null, 2))
      process.stderr.write(`${STREAMS} streams, per stream: gateway ${memoryLine(memory)}${baseMemory === undefined ? '' : `; baseline ${memoryLine(baseMemory)}`}\n`)
      return
    }

    const view = (cells: CellView[]) => ({
      firstMs: stat(cells.map((c) => c.firstMs)),
      firstDelayMs: stat(cells.map((c) => c.firstDelayMs)),
      endMs: stat(cells.map((c) => c.endMs)),
      p50Ms: stat(cells.map((c) => c.p50Ms)),
      p99Ms: stat(cells.map((c) => c.p99Ms))
    })
    const [d, g, b] = paths.map((p) => view(p.cells)) as [ReturnType<typeof view>, ReturnType<typeof view>, ReturnType<typeof view> | undefined]
    const addedTo = (x: ReturnType<typeof view>) => ({ firstMs: x.firstMs.median - d.firstMs.median, firstDelayMs: x.firstDelayMs.median - d.firstDelayMs.median, endMs: x.endMs.median - d.endMs.median, perEventP50Ms: x.p50Ms.median - d.p50Ms.median, perEventP99Ms: x.p99Ms.median - d.p99Ms.median })
    const added = addedTo(g)
    const baseAdded = b === undefined ? undefined : addedTo(b)
    const date = new Date().toISOString()
    const report = {
      date,
      machine: machine(),
      settings: { quick: QUICK, eventsPerTurn: EVENTS, stepDelayMs: STEP_MS, turnsPerCell: TURNS, rounds: ROUNDS, streams: STREAMS, memoryRounds: MEMORY_ROUNDS, baseline: args.baseline ?? null },
      direct: d,
      gateway: g,
      added,
      ...(b === undefined ? {} : { baseline: b, baselineAdded: baseAdded }),
      goals: { perEventP50Ms: 1, firstMs: 3, endMs: 5 },
      memory,
      ...(baseMemory === undefined ? {} : { baselineMemory: baseMemory })
    }
    const ms = (x: number) => `${x >= 0 ? '+' : ''}${x.toFixed(1)} ms`
    const rows: Array<[string, (v: ReturnType<typeof view>) => string, keyof typeof added, string]> = [
      ['first text event, from the request\'s start', (v) => range(v.firstMs), 'firstMs', '<= 3 ms'],
      ['first text event, from its upstream write', (v) => range(v.firstDelayMs), 'firstDelayMs', ''],
      ['turn end (the stream\'s end), from the request\'s start', (v) => range(v.endMs), 'endMs', '<= 5 ms'],
      ['per event, p50 (upstream write to arrival)', (v) => range(v.p50Ms), 'perEventP50Ms', '<= 1 ms'],
      ['per event, p99', (v) => range(v.p99Ms), 'perEventP99Ms', '']
    ]
    const table = [
      runLine(date, `${QUICK ? 'quick run: ' : ''}${EVENTS} text events per turn ${STEP_MS} ms apart, ${TURNS} turns per cell, ${ROUNDS} rounds interleaved; medians of the cells (min-max), ms.`),
      '',
      b === undefined ? '| measure | direct to the simulator | through the gateway | added | goal |' : '| measure | direct to the simulator | through the gateway | added | baseline gateway | baseline added | goal |',
      b === undefined ? '| --- | --- | --- | --- | --- |' : '| --- | --- | --- | --- | --- | --- | --- |',
      ...rows.map(([name, cell, key, goal]) => `| ${name} | ${cell(d)} | ${cell(g)} | ${ms(added[key])} | ${b === undefined ? '' : `${cell(b)} | ${ms(baseAdded![key])} | `}${goal} |`),
      '',
      `Memory: ${STREAMS} open \`GET /v1/sessions/:id/events\` streams on idle sessions, gateway RSS per stream: ${memoryLine(memory)} (${MEMORY_ROUNDS} rounds each way; RSS ${(memory.collected[0]!.beforeKiB / 1024).toFixed(0)} MiB after a full GC)` +
        (baseMemory === undefined ? '.' : `; baseline gateway: ${memoryLine(baseMemory)}.`)
    ].join('\n')
    await writeResults('relay', report, table)
  } finally {
    for (const gw of gateways) await stopGateway(gw)
    for (const c of children.reverse()) await stop(c)
  }
}

await main()
