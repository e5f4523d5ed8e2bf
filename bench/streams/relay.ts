// `node --import=tsx bench/streams/relay.ts [--quick]`: the SSE relay, side by side.
//
// One turn of N text events read straight from the simulator's /run_sse, and the same turn
// through the gateway's POST /v1/sessions/:id/turns (Accept: text/event-stream). The simulator's
// `burst` scenario stamps every text with the wall-clock ms it wrote the frame at, and the
// gateway keeps the text, so each event's delay is its arrival here minus that stamp, on either
// path (the same two clocks: any offset cancels in the difference). Turns alternate direct and
// gateway cells over several rounds; medians with min-max. Then the memory of open streams:
// GET /v1/sessions/:id/events streams on idle sessions, the gateway's VmRSS before and after.
import { setMaxListeners } from 'node:events'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import {
  buildDist, collectGarbage, json, machine, pinSelf, range, rssKiB, runLine, sseFrames, startGateway, startSimulator, stat, stop, stopGateway, wallNow, writeResults, type Child, type Gateway
} from '../lib.ts'
import { freePort } from '../free-port.ts'

const { values: args } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    /** Extra node flags for the gateway, e.g. "--cpu-prof --cpu-prof-dir=/tmp/p". */
    'gateway-node-args': { type: 'string', default: '' },
    /** Another checkout with a built dist/ (e.g. the commit before a change): a third cell per round. */
    baseline: { type: 'string' }
  }
})
const QUICK = args.quick
const EVENTS = QUICK ? 10 : 20
const STEP_MS = 20
const TURNS = QUICK ? 4 : 10
const ROUNDS = QUICK ? 2 : 3
const STREAMS = QUICK ? 50 : 200
const MEMORY_ROUNDS = QUICK ? 1 : 3
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

interface StreamMemory { beforeKiB: number, afterKiB: number, afterGcKiB: number, perStreamKiB: number, perStreamAfterGcKiB: number }

/**
 * Opens `count` event streams on idle sessions and reads the gateway's RSS both ways: as it is
 * a second after they opened (what the process really takes on: garbage not yet collected
 * included), and after a full garbage collection (what they keep). Before: after a full
 * collection. Then closes them.
 */
async function memoryPerStream (gw: Gateway, inspectorPort: number, as: Record<string, string>, sessionIds: string[]): Promise<StreamMemory> {
  const pid = gw.child.proc.pid!
  const pause = async () => await new Promise((resolve) => setTimeout(resolve, 1000))
  await collectGarbage(inspectorPort)
  await pause()
  const beforeKiB = (await rssKiB(pid)) ?? NaN
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  const open = await Promise.all(sessionIds.map(async (id) => {
    const res = await request(`${gw.url}/v1/sessions/${id}/events`, { headers: { ...as, accept: 'text/event-stream' }, signal: controller.signal })
    if (res.statusCode !== 200) throw new Error(`events stream: ${res.statusCode}`)
    const it = res.body[Symbol.asyncIterator]()
    await it.next() // ': connected'
    return res
  }))
  await pause()
  const afterKiB = (await rssKiB(pid)) ?? NaN
  await collectGarbage(inspectorPort)
  await pause()
  const afterGcKiB = (await rssKiB(pid)) ?? NaN
  controller.abort()
  for (const res of open) res.body.destroy()
  await pause()
  return { beforeKiB, afterKiB, afterGcKiB, perStreamKiB: (afterKiB - beforeKiB) / sessionIds.length, perStreamAfterGcKiB: (afterGcKiB - beforeKiB) / sessionIds.length }
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
    const base = args.baseline === undefined ? undefined : await startGateway(sim.url, { HEARTBEAT_EVENT_INTERVAL_MS: '0' }, [], args.baseline)
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
    for (let round = 1; round <= ROUNDS; round++) {
      for (const p of paths) {
        const turns: Turn[] = []
        for (let i = 0; i < TURNS; i++) turns.push(await p.turn())
        p.cells.push(cellOf(turns))
      }
      process.stderr.write(`round ${round}: first text ${paths.map((p) => `${p.name} ${p.cells.at(-1)!.firstMs.toFixed(1)} ms`).join(', ')}\n`)
    }

    const sessionIds: string[] = []
    for (let i = 0; i < STREAMS; i++) sessionIds.push((await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: as(gw), body: {} })).id)
    const memory = []
    for (let i = 0; i < MEMORY_ROUNDS; i++) memory.push(await memoryPerStream(gw, inspectorPort, as(gw), sessionIds))

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
    const perStream = stat(memory.map((m) => m.perStreamKiB))
    const perStreamAfterGc = stat(memory.map((m) => m.perStreamAfterGcKiB))
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
      memory: { rounds: memory, perStreamKiB: perStream, perStreamAfterGcKiB: perStreamAfterGc }
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
      `Memory: ${STREAMS} open \`GET /v1/sessions/:id/events\` streams on idle sessions, gateway RSS per stream: **${range(perStream)} KiB as it grew** (no forced GC; goal < 30 KiB), ${range(perStreamAfterGc)} KiB after a full GC (${MEMORY_ROUNDS} rounds; RSS ${(memory[0]!.beforeKiB / 1024).toFixed(0)} MiB before the first, after a full GC).`
    ].join('\n')
    await writeResults('relay', report, table)
  } finally {
    for (const gw of gateways) await stopGateway(gw)
    for (const c of children.reverse()) await stop(c)
  }
}

await main()
