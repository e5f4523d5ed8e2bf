// The migrations of one start, run on a worker thread (see applyMigrationsApart in migrate.ts):
// the schema engine's WebAssembly lives and dies with this thread. Its log lines and its
// answer go back to the starting thread as messages.
import { parentPort, workerData } from 'node:worker_threads'
import { applyMigrations } from './migrate.ts'
import type { Log } from './log.ts'

const { databaseUrl, migrationsDir } = workerData as { databaseUrl: string, migrationsDir: string }
const say = (level: keyof Log) => (message: string) => parentPort!.postMessage({ kind: 'log', level, message })
const log: Log = { info: say('info'), warn: say('warn'), debug: say('debug') }
try {
  const { applied } = await applyMigrations(databaseUrl, migrationsDir, log)
  parentPort!.postMessage({ kind: 'done', applied })
} catch (err) {
  const e = err as Error
  parentPort!.postMessage({ kind: 'failed', name: e.name, message: e.message ?? String(err) })
}
