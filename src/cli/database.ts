// The database a CLI command works on: DATABASE_URL; else the embedded database of a gateway
// running on this DATA_DIR; else the embedded database started for the command alone.
import type { Config } from '../config.ts'
import { runningEmbeddedUrl } from '../db/attach.ts'
import { startEmbeddedPostgres } from '../db/embedded.ts'
import type { Log } from '../db/log.ts'

export async function withCliDatabase<T> (config: Config, log: Log, fn: (url: string) => Promise<T>): Promise<T> {
  const url = config.DATABASE_URL ?? await runningEmbeddedUrl(config.DATA_DIR)
  if (url !== null) return await fn(url)
  const embedded = await startEmbeddedPostgres({ dataDir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT, log })
  try {
    return await fn(embedded.url)
  } finally {
    await embedded.stop()
  }
}
