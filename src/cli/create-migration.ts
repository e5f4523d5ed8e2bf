// `npm run db:migration:create -- <name>`: write prisma/migrations/<timestamp>_<name>/ with the
// SQL that takes the migrations so far to prisma/schema.prisma. Needs a Postgres server for a
// temporary shadow database: DATABASE_URL, or the embedded one under DATA_DIR. The database
// itself is not changed; apply with `npm run db:migrate` (or just start the gateway).
import { relative } from 'node:path'
import { loadConfig } from '../config.ts'
import { withCliDatabase } from './database.ts'
import { createMigration, migrationSlug } from '../db/migrate.ts'
import { consoleLog } from '../db/log.ts'

const name = process.argv[2]
if (name === undefined || process.argv.length > 3) {
  console.error('Usage: npm run db:migration:create -- <name>   (letters, digits, underscores)')
  process.exit(2)
}
try {
  migrationSlug(name)
} catch (err) {
  console.error((err as Error).message)
  process.exit(2)
}

const config = loadConfig()
const log = consoleLog(config.LOG_LEVEL)
let exitCode = 0
try {
  const created = await withCliDatabase(config, log, async (url) => await createMigration(name, url, { log }))
  if (created === null) console.log('No changes: prisma/schema.prisma matches the migrations. Nothing written.')
  else console.log(`Created ${relative(process.cwd(), created.path)}`)
} catch (err) {
  console.error(`Could not create the migration: ${(err as Error).message}`)
  exitCode = 1
}
process.exitCode = exitCode
