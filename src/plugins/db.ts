// The database: DATABASE_URL when set, else an embedded PostgreSQL under DATA_DIR. Migrations
// are applied before anything else runs (safe with several instances starting at once), then
// one PrismaClient over @prisma/adapter-pg is shared. Also the key for secrets at rest. A
// tenant's requests wait for database connections in the tenant's own lane (db/lanes.ts).
import { resolve } from 'node:path'
import fp from 'fastify-plugin'
import type { FastifyInstance, onRequestHookHandler } from 'fastify'
import type { PrismaClient } from '../generated/prisma/client.ts'
import { openDatabase, type Database, type Sql } from '../db/client.ts'
import { inLane } from '../db/lanes.ts'
import { startEmbeddedPostgres, type EmbeddedPostgres } from '../db/embedded.ts'
import { loadEncryptionKey } from '../db/encryption-key.ts'
import { applyMigrationsApart, defaultMigrationsDir } from '../db/migrate.ts'
import type { Log } from '../db/log.ts'

interface DatabaseInfo {
  /** The connection URL in use (contains the password: never log it). */
  url: string
  /** True when the gateway runs its own embedded PostgreSQL. */
  embedded: boolean
  /** True when the database answers a trivial query within `timeoutMs` (default 2 s). */
  ping: (timeoutMs?: number) => Promise<boolean>
}

declare module 'fastify' {
  interface FastifyInstance {
    prisma: PrismaClient
    /** Plain SQL on Prisma's own pool, for the hot-path reads (src/db/client.ts). */
    sql: Sql
    db: DatabaseInfo
    /** 32 bytes for AES-256-GCM (src/db/crypto.ts). */
    encryptionKey: Buffer
    /**
     * An onRequest hook, after authentication: the request, and what it starts (a turn's run),
     * waits for database connections in its tenant's lane, so another tenant's burst does not
     * hold it up (db/lanes.ts).
     */
    tenantLane: onRequestHookHandler
  }
}

interface DbPluginOptions {
  /** Defaults to prisma/migrations. */
  migrationsDir?: string
}

async function db (fastify: FastifyInstance, opts: DbPluginOptions): Promise<void> {
  const config = fastify.config
  const log: Log = fastify.log.child({ component: 'db' })

  let embedded: EmbeddedPostgres | undefined
  let url = config.DATABASE_URL
  try {
    fastify.decorate('encryptionKey', await loadEncryptionKey({
      configured: config.ENCRYPTION_KEY,
      dataDir: config.DATA_DIR,
      log
    }))
    if (url === undefined) {
      embedded = await startEmbeddedPostgres({ dataDir: config.DATA_DIR, port: config.EMBEDDED_PG_PORT, log, handleSignals: false })
      url = embedded.url
    }
  } catch (err) {
    throw dataDirError(err, config.DATA_DIR)
  }

  let database: Database | undefined
  let closed = false
  // Registered now so that a failure further down still stops what was started.
  fastify.addHook('onClose', async () => {
    closed = true
    await database?.close()
    await embedded?.stop()
  })
  try {
    await applyMigrationsApart(url, opts.migrationsDir ?? defaultMigrationsDir, log)
    database = openDatabase(url, {
      max: config.DB_POOL_MAX,
      connectionTimeoutMs: config.DB_POOL_TIMEOUT_MS,
      queryTimeoutMs: config.DB_QUERY_TIMEOUT_MS,
      onPoolError: (err) => { log.warn(`database pool: ${err.message}`) }
    })
    await database.prisma.$connect()
  } catch (err) {
    await database?.close().catch(() => {})
    await embedded?.stop().catch(() => {})
    throw err
  }

  const client = database.prisma
  fastify.decorate('tenantLane', (request, _reply, done) => {
    const tenantId = request.actor?.tenantId
    if (tenantId === undefined) done()
    else inLane(tenantId, done)
  })
  fastify.decorate('prisma', client)
  fastify.decorate('sql', database.sql)
  fastify.decorate('db', {
    url,
    embedded: embedded !== undefined,
    // Prisma reconnects on demand, so a closed instance must say so itself.
    ping: async (timeoutMs = 2000) => !closed && await ping(client, timeoutMs)
  } satisfies DatabaseInfo)
}

async function ping (prisma: PrismaClient, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined
  const timeout = new Promise<false>((resolve) => { timer = setTimeout(resolve, timeoutMs, false) })
  try {
    return await Promise.race([
      prisma.$queryRaw`SELECT 1`.then(() => true, () => false),
      timeout
    ])
  } finally {
    clearTimeout(timer)
  }
}

export default fp(db, { name: 'db' })

const DISK_ERRORS: Record<string, string> = {
  EACCES: 'cannot be written by this user',
  EPERM: 'cannot be written by this user',
  EROFS: 'is on a read-only file system',
  ENOSPC: 'is on a full disk',
  EDQUOT: 'is over its disk quota'
}

/** A DATA_DIR the gateway cannot write says so, with the fix, instead of a bare errno. */
function dataDirError (err: unknown, dataDir: string): unknown {
  const code = (err as NodeJS.ErrnoException).code
  const what = code === undefined ? undefined : DISK_ERRORS[code]
  if (what === undefined) return err
  return new Error(`DATA_DIR ${resolve(dataDir)} ${what} (${code}: ${(err as Error).message}). Point DATA_DIR at a writable directory with free space, or set DATABASE_URL to a Postgres server`, { cause: err })
}
