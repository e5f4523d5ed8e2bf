// `node --import=tsx bench/streams/replay.ts [--quick]`: catching up on a long session log.
//
// A session with 10,000 events, written straight into the gateway's SessionEvent table (one
// INSERT ... SELECT generate_series through its DATABASE_URL: turns make events far too slowly
// for this), then read from cursor 0 to the last one over SSE (GET /v1/sessions/:id/events
// ?after=0) and over a graphql-ws subscription (sessionEvents(after: "0")), the two alternating
// for several runs; events/s and time to catch up, medians with min-max.
import { parseArgs } from 'node:util'
import { createClient } from 'graphql-ws'
import pg from 'pg'
import { request } from 'undici'
import WebSocket from 'ws'
import {
  buildDist, json, machine, pinSelf, range, runLine, sseFrames, startGateway, startSimulator, stat, stop, stopGateway, wallNow, writeResults, type Child, type Gateway
} from '../lib.ts'

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const QUICK = args.quick
const EVENTS = QUICK ? 2_000 : 10_000
const RUNS = QUICK ? 1 : 3
const SUBSCRIPTION = 'subscription ($id: ID!, $after: String) { sessionEvents(sessionId: $id, after: $after) { cursor sessionId turnId type payload createdAt } }'

interface Run { firstMs: number, catchUpMs: number, events: number, eventsPerS: number }

async function overSse (gw: Gateway, as: Record<string, string>, sessionId: string, last: string): Promise<Run> {
  const controller = new AbortController()
  const t0 = wallNow()
  const res = await request(`${gw.url}/v1/sessions/${sessionId}/events?after=0`, { headers: { ...as, accept: 'text/event-stream' }, signal: controller.signal })
  if (res.statusCode !== 200) throw new Error(`events stream: ${res.statusCode} ${await res.body.text()}`)
  let events = 0
  let firstMs = NaN
  try {
    for await (const f of sseFrames(res.body)) {
      if (f.id === null) continue
      if (events++ === 0) firstMs = f.at - t0
      if (f.id === last) {
        const catchUpMs = f.at - t0
        return { firstMs, catchUpMs, events, eventsPerS: events / (catchUpMs / 1000) }
      }
    }
  } finally {
    controller.abort()
    res.body.destroy()
  }
  throw new Error(`the stream ended after ${events} events, before cursor ${last}`)
}

async function overGraphql (gw: Gateway, as: Record<string, string>, sessionId: string, last: string): Promise<Run> {
  const client = createClient({ url: gw.url.replace(/^http/, 'ws') + '/graphql', webSocketImpl: WebSocket, connectionParams: as, retryAttempts: 0, lazy: true })
  try {
    const t0 = wallNow()
    return await new Promise<Run>((resolve, reject) => {
      let events = 0
      let firstMs = NaN
      const cancel = client.subscribe<{ sessionEvents: { cursor: string } }>({ query: SUBSCRIPTION, variables: { id: sessionId, after: '0' } }, {
        next: (result) => {
          if (result.errors) { reject(new Error(JSON.stringify(result.errors))); return }
          const at = wallNow()
          if (events++ === 0) firstMs = at - t0
          if (result.data!.sessionEvents.cursor === last) {
            cancel()
            resolve({ firstMs, catchUpMs: at - t0, events, eventsPerS: events / ((at - t0) / 1000) })
          }
        },
        error: reject,
        complete: () => reject(new Error(`the subscription completed after ${events} events, before cursor ${last}`))
      })
    })
  } finally {
    await client.dispose()
  }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const children: Child[] = []
  let gw: Gateway | undefined
  try {
    const sim = await startSimulator()
    children.push(sim.child)
    gw = await startGateway(sim.url)
    const as = { authorization: `Bearer ${gw.key}`, 'x-user-id': 'bench' }
    const session = await json(`${gw.url}/v1/sessions`, { method: 'POST', headers: as, body: {} })

    const db = new pg.Client({ connectionString: await gw.databaseUrl() })
    await db.connect()
    const filled = performance.now()
    await db.query(`INSERT INTO "SessionEvent" ("sessionId", "type", "payload")
      SELECT $1::uuid, 'text', jsonb_build_object('turnId', NULL, 'text', 'Replayed event ' || g || ': a sentence of about the length an agent answers with, give or take.')
      FROM generate_series(1, $2::int) AS g`, [session.id, EVENTS])
    const { rows } = await db.query('SELECT max("cursor")::text AS last, count(*)::int AS n FROM "SessionEvent" WHERE "sessionId" = $1', [session.id])
    await db.end()
    const fillMs = performance.now() - filled
    const last = rows[0].last as string
    const total = rows[0].n as number
    process.stderr.write(`${total} events in the log (inserted in ${fillMs.toFixed(0)} ms), last cursor ${last}\n`)

    // warm-up: a short read on both paths
    await overSse(gw, as, session.id, last)
    await overGraphql(gw, as, session.id, last)
    const sse: Run[] = []
    const graphql: Run[] = []
    for (let i = 1; i <= RUNS; i++) {
      sse.push(await overSse(gw, as, session.id, last))
      graphql.push(await overGraphql(gw, as, session.id, last))
      process.stderr.write(`run ${i}: SSE ${sse.at(-1)!.catchUpMs.toFixed(0)} ms, GraphQL ${graphql.at(-1)!.catchUpMs.toFixed(0)} ms\n`)
    }
    for (const r of [...sse, ...graphql]) if (r.events !== total) throw new Error(`a run read ${r.events} of ${total} events`)

    const view = (runs: Run[]) => ({ catchUpMs: stat(runs.map((r) => r.catchUpMs)), eventsPerS: stat(runs.map((r) => r.eventsPerS)), firstMs: stat(runs.map((r) => r.firstMs)) })
    const s = view(sse)
    const g = view(graphql)
    const date = new Date().toISOString()
    const report = { date, machine: machine(), settings: { quick: QUICK, events: total, runs: RUNS, fillMs }, sse: { ...s, runs: sse }, graphql: { ...g, runs: graphql } }
    const table = [
      runLine(date, `${QUICK ? 'quick run: ' : ''}${total} stored events read from cursor 0, ${RUNS} runs each alternating (after one warm-up each); medians (min-max).`),
      '',
      '| transport | time to catch up, ms | events/s | first event, ms |',
      '| --- | --- | --- | --- |',
      `| SSE \`GET /v1/sessions/:id/events?after=0\` | ${range(s.catchUpMs, 0)} | ${range(s.eventsPerS, 0)} | ${range(s.firstMs)} |`,
      `| GraphQL \`sessionEvents(after: "0")\` over graphql-ws | ${range(g.catchUpMs, 0)} | ${range(g.eventsPerS, 0)} | ${range(g.firstMs)} |`
    ].join('\n')
    await writeResults('replay', report, table)
  } finally {
    if (gw) await stopGateway(gw)
    for (const c of children.reverse()) await stop(c)
  }
}

await main()
