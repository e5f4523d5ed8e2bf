// `npm run db:migrate`: apply prisma/migrations to DATABASE_URL, or to the embedded database
// under DATA_DIR when it is unset (the gateway also does this at startup).
import { loadConfig } from '../config.ts'
import { withCliDatabase } from './database.ts'
import { applyMigrations } from '../db/migrate.ts'
import { consoleLog } from '../db/log.ts'

const config = loadConfig()
const log = consoleLog(config.LOG_LEVEL)
let exitCode = 0
try {
  const { applied } = await withCliDatabase(config, log, async (url) => await applyMigrations(url, undefined, log))
  if (applied.length === 0) console.log('No pending migrations.')
  else for (const name of applied) console.log(`Applied ${name}`)
} catch (err) {
  console.error(`Migration failed: ${(err as Error).message}`)
  exitCode = 1
}
process.exitCode = exitCode
