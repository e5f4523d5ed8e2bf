// `node --import=tsx bench/streams/append-idle.ts [--idle-ms 20] [--calls 200]`: what one event's
// append costs in the database's round trip, back to back and after an idle gap like the one
// between a turn's events (the relay's events come 20 ms apart). It starts its own embedded
// Postgres (pinned with this process to CPU 0 where taskset exists, as the bench pins the
// gateway and its database), applies the migrations and times, on one connection:
// - `gw_append_event` as the turn runner calls it (a prepared statement; its commit waits for
//   the WAL flush),
// - the same with the commit not waiting for the flush (`synchronous_commit = off`: what that
//   setting would save; the gateway does not use it),
// - `SELECT 1` (the round trip alone).
// Nothing is written to bench/README.md; the figures are quoted there by hand.
import { randomUUID } from 'node:crypto'
import { spawnSync } from 'node:child_process'
import { rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { applyMigrations } from '../../src/db/migrate.ts'
import { taskset } from '../lib.ts'

const { values: args } = parseArgs({
  options: {
    'idle-ms': { type: 'string', default: '20' },
    calls: { type: 'string', default: '200' }
  }
})
const IDLE_MS = Number(args['idle-ms'])
const CALLS = Number(args.calls)

if (taskset) spawnSync('taskset', ['-p', '-c', '0', String(process.pid)], { stdio: 'ignore' })
const dataDir = join(tmpdir(), `append-idle-${process.pid}`)
const db = await startEmbeddedPostgres({ dataDir })
try {
  await applyMigrations(db.url)
  const client = new pg.Client(db.url)
  await client.connect()
  const sessionId = randomUUID()
  // the session's parents do not matter here (their checks are off for this one insert); the
  // event's own foreign key to the session is checked on every append, as in the gateway
  await client.query('SET session_replication_role = replica')
  await client.query(`INSERT INTO "Session" (id, "tenantId", "userId", "credentialId", "upstreamSessionId", "updatedAt")
    VALUES ($1, $2, $2, $2, 'upstream', now())`, [sessionId, randomUUID()])
  await client.query('SET session_replication_role = origin')

  const append = 'SELECT event_cursor, prev_cursor FROM gw_append_event($1::uuid, $2::uuid, $3, $4::jsonb, $5::timestamptz)'
  const values = (i: number) => [sessionId, null, 'text', JSON.stringify({ type: 'text', content: `event ${i}` }), new Date()]
  const statements: Array<[string, (i: number) => Promise<unknown>]> = [
    ['append (commit waits for the WAL flush)', async (i) => await client.query({ name: 'append', text: append, values: values(i) })],
    ['append, commit not waiting (BEGIN, SET LOCAL, append, COMMIT: 4 round trips)', async (i) => {
      await client.query('BEGIN')
      await client.query('SET LOCAL synchronous_commit = off')
      await client.query({ name: 'append', text: append, values: values(i) })
      await client.query('COMMIT')
    }],
    ['SELECT 1', async () => await client.query({ name: 'one', text: 'SELECT 1' })]
  ]
  const pause = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))
  const rows: string[] = []
  for (const [name, run] of statements) {
    for (let i = 0; i < 50; i++) await run(i)
    const cells: string[] = []
    for (const idle of [0, IDLE_MS]) {
      const times: number[] = []
      for (let i = 0; i < CALLS; i++) {
        if (idle > 0) await pause(idle)
        const started = performance.now()
        await run(i)
        times.push(performance.now() - started)
      }
      times.sort((a, b) => a - b)
      const at = (q: number) => times[Math.min(times.length - 1, Math.floor(times.length * q))]!.toFixed(3)
      cells.push(`${at(0.5)} / ${at(0.9)}`)
    }
    rows.push(`| ${name} | ${cells[0]} | ${cells[1]} |`)
  }
  await client.end()
  console.log(`${CALLS} calls each, ms p50 / p90, one connection, taskset ${taskset ? 'yes (CPU 0)' : 'no'}\n`)
  console.log(`| statement | back to back | after ${IDLE_MS} ms idle |`)
  console.log('| --- | --- | --- |')
  for (const row of rows) console.log(row)
} finally {
  await db.stop()
  await rm(dataDir, { recursive: true, force: true })
}
