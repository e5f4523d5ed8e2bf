// Logical backups of the gateway's database, for the embedded PostgreSQL 18 (no pg_dump of its
// version ships with it) and for any DATABASE_URL. A backup is one snapshot: a REPEATABLE READ
// READ ONLY transaction that COPYs every table of the gateway's schema, streamed into one gzip
// file (backup-format.ts) with the applied migrations and each table's row count. A restore
// migrates an empty database to exactly those migrations, COPYs the tables back in the same
// order (parents first) in one transaction, moves the sequences past the restored ids and
// checks every count before it commits.
//
// Not in the file: pg-boss's schema (its jobs are derived: the reconciler re-arms the poll of
// every active export at start, webhook deliveries live in the gateway's own tables, the
// retention schedule is set at start) and the encryption key (see README "Backups").
import { copyFile, mkdir, mkdtemp, readFile, rm } from 'node:fs/promises'
import { createHash } from 'node:crypto'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { from as copyFrom, to as copyTo } from 'pg-copy-streams'
import { gwError } from '../errors.ts'
import { applyMigrations, defaultMigrationsDir } from './migrate.ts'
import { silentLog, type Log } from './log.ts'
import { BACKUP_FORMAT_VERSION, openFrameWriter, readFrames, type BackupHeader, type BackupManifest, type BackupTable } from './backup-format.ts'

export type { BackupManifest } from './backup-format.ts'

/** COPY output is sent on in pieces of about this size (a frame each). */
const PIECE_BYTES = 256 * 1024
const MIGRATIONS_TABLE = '_prisma_migrations'
/** Schemas a restore replaces: the gateway's tables and pg-boss's (rebuilt empty at start). */
const JOBS_SCHEMA = 'pgboss'

const quote = (name: string) => `"${name.replace(/"/g, '""')}"`

async function connect (url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url, application_name: 'nemo-gateway-backup' })
  await client.connect()
  return client
}

/** The gateway's tables in the public schema, parents before children, with their columns. */
async function listTables (client: pg.Client): Promise<BackupTable[]> {
  const { rows } = await client.query<{ name: string, columns: string[], parents: string[] }>(`
    SELECT c.relname::text AS name,
      (SELECT array_agg(a.attname::text ORDER BY a.attnum) FROM pg_attribute a
        WHERE a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped AND a.attgenerated = '') AS columns,
      coalesce((SELECT array_agg(DISTINCT p.relname::text) FROM pg_constraint f JOIN pg_class p ON p.oid = f.confrelid
        WHERE f.conrelid = c.oid AND f.contype = 'f' AND f.confrelid <> c.oid), '{}'::text[]) AS parents
    FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> $1
    ORDER BY c.relname`, [MIGRATIONS_TABLE])
  const ordered: BackupTable[] = []
  const placed = new Set<string>()
  while (ordered.length < rows.length) {
    const next = rows.filter((r) => !placed.has(r.name) && r.parents.every((p) => placed.has(p)))
    if (next.length === 0) throw new Error('the tables\' foreign keys form a cycle: no load order exists')
    for (const r of next) {
      ordered.push({ name: r.name, columns: r.columns })
      placed.add(r.name)
    }
  }
  return ordered
}

async function appliedMigrations (client: pg.Client): Promise<BackupHeader['migrations']> {
  const exists = await client.query(`SELECT to_regclass('public.${MIGRATIONS_TABLE}') AS t`)
  if (exists.rows[0]?.t === null) throw gwError('GW_ERR_VALIDATION', 'the database has no gateway schema (no migrations were ever applied): nothing to back up')
  const { rows } = await client.query<{ name: string, checksum: string }>(
    `SELECT migration_name AS name, checksum FROM ${MIGRATIONS_TABLE}
     WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name`)
  return rows
}

export interface BackupOptions {
  gatewayVersion: string
  encryptionKeyId: string
  log?: Log
}

/** Writes the whole database, as one snapshot, into `file` (which must not exist yet). */
export async function backupDatabase (url: string, file: string, opts: BackupOptions): Promise<BackupManifest> {
  const client = await connect(url)
  try {
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY')
    const header: BackupHeader = {
      format: 'nemo-gateway-backup',
      formatVersion: BACKUP_FORMAT_VERSION,
      gatewayVersion: opts.gatewayVersion,
      createdAt: new Date().toISOString(),
      migrations: await appliedMigrations(client),
      tables: await listTables(client),
      encryptionKeyId: opts.encryptionKeyId
    }
    const writer = openFrameWriter(file)
    const rows: Record<string, number> = {}
    try {
      await writer.write({ kind: 'H', header })
      for (const table of header.tables) {
        await writer.write({ kind: 'T', table })
        const stream = client.query(copyTo(`COPY ${quote(table.name)} (${table.columns.map(quote).join(', ')}) TO STDOUT`))
        let pieces: Buffer[] = []
        let size = 0
        for await (const chunk of stream) {
          pieces.push(chunk as Buffer)
          size += (chunk as Buffer).length
          if (size >= PIECE_BYTES) {
            await writer.write({ kind: 'D', data: Buffer.concat(pieces) })
            pieces = []
            size = 0
          }
        }
        if (size > 0) await writer.write({ kind: 'D', data: Buffer.concat(pieces) })
        rows[table.name] = stream.rowCount
        await writer.write({ kind: 'E', rows: stream.rowCount })
      }
      const manifest: BackupManifest = { ...header, rows }
      await writer.write({ kind: 'M', manifest })
      await writer.close()
      await client.query('COMMIT')
      return manifest
    } catch (err) {
      await writer.close().catch(() => {})
      await rm(file, { force: true })
      throw err
    }
  } finally {
    await client.end()
  }
}

export interface RestoreOptions {
  /** Replace a database that holds data (its tables and pg-boss's jobs are dropped first). */
  force?: boolean
  /** The key the restoring gateway will use (its id): a backup made under another key is refused. */
  encryptionKeyId: string
  /** Restore under another key all the same: the upstream tokens and webhook secrets stay unreadable. */
  ignoreKeyMismatch?: boolean
  migrationsDir?: string
  log?: Log
}

/** Loads `file` into the database of `url`. */
export async function restoreDatabase (url: string, file: string, opts: RestoreOptions): Promise<BackupManifest> {
  const log = opts.log ?? silentLog
  const frames = readFrames(file)
  const first = await frames.next()
  if (first.done === true || first.value.kind !== 'H') throw gwError('GW_ERR_VALIDATION', `${file} is not a readable gateway backup (no header)`)
  const header = first.value.header
  if (header.format !== 'nemo-gateway-backup' || header.formatVersion !== BACKUP_FORMAT_VERSION) {
    throw gwError('GW_ERR_VALIDATION', `${file} is a backup of format ${header.formatVersion}; this gateway reads format ${BACKUP_FORMAT_VERSION}`)
  }
  checkKey(header, opts)
  const migrationsDir = opts.migrationsDir ?? defaultMigrationsDir
  await checkMigrations(header, migrationsDir)

  const client = await connect(url)
  try {
    await emptyDatabase(client, opts.force === true)
    // exactly the backup's schema version; the gateway's next start applies any newer migrations
    const only = await migrationsSubset(migrationsDir, header.migrations.map((m) => m.name))
    try {
      await applyMigrations(url, only, log)
    } finally {
      await rm(only, { recursive: true, force: true })
    }

    await client.query('BEGIN')
    let manifest: BackupManifest | undefined
    let frame = await frames.next()
    while (frame.done !== true) {
      const f = frame.value
      if (f.kind === 'M') {
        manifest = f.manifest
      } else if (f.kind === 'T') {
        const sink = client.query(copyFrom(`COPY ${quote(f.table.name)} (${f.table.columns.map(quote).join(', ')}) FROM STDIN`))
        const finished = new Promise<void>((resolve, reject) => { sink.on('finish', resolve); sink.on('error', reject) })
        let rows: number | undefined
        for (frame = await frames.next(); frame.done !== true; frame = await frames.next()) {
          if (frame.value.kind === 'D') {
            if (!sink.write(frame.value.data)) await new Promise<void>((resolve, reject) => { sink.once('drain', resolve); sink.once('error', reject) })
          } else if (frame.value.kind === 'E') {
            rows = frame.value.rows
            break
          } else {
            throw gwError('GW_ERR_VALIDATION', `${file} is not a readable gateway backup (table ${f.table.name} does not end)`)
          }
        }
        sink.end()
        await finished
        if (rows !== sink.rowCount) throw gwError('GW_ERR_VALIDATION', `table ${f.table.name}: ${sink.rowCount} rows loaded, the backup says ${rows ?? 'nothing'}`)
      }
      frame = await frames.next()
    }
    if (manifest === undefined) throw gwError('GW_ERR_VALIDATION', `${file} is cut short (no manifest at its end): nothing was restored`)
    await resetSequences(client)
    await checkCounts(client, manifest)
    await client.query('COMMIT')
    return manifest
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {})
    throw err
  } finally {
    await client.end()
    await frames.return(undefined)
  }
}

function checkKey (header: BackupHeader, opts: RestoreOptions): void {
  if (header.encryptionKeyId === opts.encryptionKeyId) return
  if (opts.ignoreKeyMismatch === true) {
    (opts.log ?? silentLog).warn('restoring under another encryption key: the upstream tokens and webhook secrets in this backup cannot be decrypted (register the tokens and rotate the webhook secrets again)')
    return
  }
  throw gwError('GW_ERR_VALIDATION',
    `the backup's upstream tokens and webhook secrets were encrypted with another key (key id ${header.encryptionKeyId}, this gateway's is ${opts.encryptionKeyId}): ` +
    'set ENCRYPTION_KEY to that key (or put its encryption.key into DATA_DIR), or pass --ignore-key-mismatch to restore without them being readable')
}

/** Every migration of the backup must be this gateway's, byte for byte. */
async function checkMigrations (header: BackupHeader, migrationsDir: string): Promise<void> {
  for (const m of header.migrations) {
    const text = await readFile(join(migrationsDir, m.name, 'migration.sql')).catch(() => null)
    if (text === null) throw gwError('GW_ERR_VALIDATION', `the backup was made by a newer gateway (${header.gatewayVersion}): migration ${m.name} is not one of this gateway's; restore with that version or a later one`)
    if (createHash('sha256').update(text).digest('hex') !== m.checksum) throw gwError('GW_ERR_VALIDATION', `migration ${m.name} of the backup differs from this gateway's copy: restore with the gateway version that made it (${header.gatewayVersion})`)
  }
}

/** A directory with only the named migrations, for applying exactly the backup's version. */
async function migrationsSubset (migrationsDir: string, names: string[]): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-restore-migrations-'))
  await copyFile(join(migrationsDir, 'migration_lock.toml'), join(dir, 'migration_lock.toml')).catch(() => {})
  for (const name of names) {
    await mkdir(join(dir, name))
    await copyFile(join(migrationsDir, name, 'migration.sql'), join(dir, name, 'migration.sql'))
  }
  return dir
}

/** Refuses a database that holds data (unless forced); clears a schema that holds none. */
async function emptyDatabase (client: pg.Client, force: boolean): Promise<void> {
  // a running gateway keeps its job queue's connections open (plugins/jobs.ts names them)
  const gateways = await client.query('SELECT 1 FROM pg_stat_activity WHERE datname = current_database() AND application_name = \'nemo-gateway-jobs\'')
  if ((gateways.rowCount ?? 0) > 0) throw gwError('GW_ERR_CONFLICT', 'a gateway is connected to this database: stop every gateway before restoring')
  const { rows } = await client.query<{ name: string }>(`
    SELECT c.relname AS name FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
    WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND c.relname <> $1`, [MIGRATIONS_TABLE])
  const holding: string[] = []
  for (const { name } of rows) {
    const any = await client.query(`SELECT 1 FROM ${quote(name)} LIMIT 1`)
    if ((any.rowCount ?? 0) > 0) holding.push(name)
  }
  if (holding.length > 0 && !force) {
    throw gwError('GW_ERR_CONFLICT', `the database is not empty (${holding.slice(0, 3).join(', ')}${holding.length > 3 ? ', ...' : ''} hold rows): restore into an empty database, or pass --force to replace everything in it`)
  }
  const migrated = await client.query(`SELECT to_regclass('public.${MIGRATIONS_TABLE}') AS t`)
  if (rows.length > 0 || migrated.rows[0]?.t !== null) {
    await client.query(`DROP SCHEMA public CASCADE; CREATE SCHEMA public; DROP SCHEMA IF EXISTS ${JOBS_SCHEMA} CASCADE`)
  }
}

/** Serial columns continue after the largest restored id. */
async function resetSequences (client: pg.Client): Promise<void> {
  const { rows } = await client.query<{ table: string, column: string, seq: string }>(`
    SELECT table_name AS table, column_name AS column, pg_get_serial_sequence(quote_ident(table_name), column_name) AS seq
    FROM information_schema.columns WHERE table_schema = 'public' AND column_default LIKE 'nextval(%'`)
  for (const r of rows) {
    if (r.seq === null) continue
    await client.query(`SELECT setval($1, coalesce((SELECT max(${quote(r.column)}) FROM ${quote(r.table)}), 1), (SELECT count(*) > 0 FROM ${quote(r.table)}))`, [r.seq])
  }
}

async function checkCounts (client: pg.Client, manifest: BackupManifest): Promise<void> {
  for (const table of manifest.tables) {
    const { rows } = await client.query<{ n: string }>(`SELECT count(*) AS n FROM ${quote(table.name)}`)
    const found = Number(rows[0]?.n ?? 0)
    if (found !== manifest.rows[table.name]) throw gwError('GW_ERR_VALIDATION', `table ${table.name}: ${found} rows after the restore, the backup's manifest says ${manifest.rows[table.name] ?? 0}: nothing was restored`)
  }
}
