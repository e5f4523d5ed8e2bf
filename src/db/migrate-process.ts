// The migrations of one start, run in a child process (see applyMigrationsApart in migrate.ts):
// the schema engine's WebAssembly lives and dies with it. Its orders (the database and the
// migrations directory) come as the first message, its log lines and its answer go back as
// messages; it exits when the gateway has its answer, or is gone.
import { applyMigrations } from './migrate.ts'
import type { Log } from './log.ts'

const send = (message: unknown) => new Promise<void>((resolve) => { process.send!(message, () => { resolve() }) })
const say = (level: keyof Log) => (message: string) => { process.send!({ kind: 'log', level, message }) }
const log: Log = { info: say('info'), warn: say('warn'), debug: say('debug') }

// The gateway closes the channel once it has the answer (so it has read everything first), or
// it is gone: either way this process is done, and whatever the engine left scheduled ends here.
let answered = false
process.once('disconnect', () => process.exit(answered ? 0 : 1))
process.once('message', async ({ databaseUrl, migrationsDir }: { databaseUrl: string, migrationsDir: string }) => {
  try {
    const { applied } = await applyMigrations(databaseUrl, migrationsDir, log)
    await send({ kind: 'done', applied })
  } catch (err) {
    const e = err as Error
    await send({ kind: 'failed', name: e.name, message: e.message ?? String(err) })
  }
  answered = true
})
