import t from 'tap'
import { cp, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { applyMigrations, createMigration, defaultMigrationsDir, defaultSchemaPath, migrationSlug, migrationTimestamp } from '../../src/db/migrate.ts'
import type { Log } from '../../src/db/log.ts'
import { testDatabase } from '../helpers/database.ts'

async function query<T extends pg.QueryResultRow> (url: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(sql)).rows
  } finally {
    await client.end()
  }
}

function captureLog (): Log & { lines: string[] } {
  const lines: string[] = []
  return { lines, info: (m) => { lines.push(m) }, warn: (m) => { lines.push(`warn: ${m}`) }, debug () {} }
}

const committed = (await readdir(defaultMigrationsDir, { withFileTypes: true })).filter((e) => e.isDirectory()).map((e) => e.name).sort()

t.test('applies prisma/migrations to an empty database, then has nothing left to do', async (t) => {
  const url = await testDatabase(t)
  const log = captureLog()
  const first = await applyMigrations(url, defaultMigrationsDir, log)
  t.same(first.applied, committed, 'every committed migration is applied, in order')
  t.ok(committed.length >= 1)

  const recorded = await query<{ migration_name: string, finished_at: Date | null }>(url, 'SELECT migration_name, finished_at FROM _prisma_migrations ORDER BY migration_name')
  t.same(recorded.map((r) => r.migration_name), committed, 'recorded in _prisma_migrations like prisma migrate deploy')
  t.ok(recorded.every((r) => r.finished_at !== null))
  const tables = await query<{ table_name: string }>(url, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public'")
  t.ok(tables.some((r) => r.table_name === 'Tenant'), 'the schema exists')

  const second = await applyMigrations(url, defaultMigrationsDir, log)
  t.same(second.applied, [], 'the second run applies nothing')
  t.match(log.lines.at(-1), /up to date/, 'and says so')
})

t.test('two instances migrating one database at once both succeed, once', async (t) => {
  const url = await testDatabase(t)
  const logs = [captureLog(), captureLog(), captureLog()]
  const results = await Promise.all(logs.map((log) => applyMigrations(url, defaultMigrationsDir, log)))
  const applied = results.flatMap((r) => r.applied).sort()
  t.same(applied, committed, 'each migration is applied by exactly one of them')
  const recorded = await query<{ n: string }>(url, 'SELECT count(*) AS n FROM _prisma_migrations')
  t.equal(Number(recorded[0]?.n), committed.length)
  t.ok(logs.some((log) => log.lines.some((l) => /waiting/.test(l))), 'the others waited for the lock')
})

t.test('a failed migration stops the start with the database error', async (t) => {
  const url = await testDatabase(t)
  const dir = await mkdtemp(join(tmpdir(), 'gw-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(defaultMigrationsDir, dir, { recursive: true })
  await cp(join(defaultMigrationsDir, committed[0]!), join(dir, '29990101000000_broken'), { recursive: true })
  await writeFile(join(dir, '29990101000000_broken', 'migration.sql'), 'SELECT * FROM no_such_table;\n')
  await t.rejects(applyMigrations(url, dir), /no_such_table/)
})

t.test('createMigration writes nothing when the schema matches the migrations', async (t) => {
  const url = await testDatabase(t)
  const dir = await mkdtemp(join(tmpdir(), 'gw-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(defaultMigrationsDir, dir, { recursive: true })
  const created = await createMigration('nothing', url, { migrationsDir: dir })
  t.equal(created, null)
  t.same((await readdir(dir)).sort(), [...committed, 'migration_lock.toml'].sort())
})

t.test('createMigration writes a Prisma Migrate migration for a schema change, which then applies', async (t) => {
  const url = await testDatabase(t)
  const dir = await mkdtemp(join(tmpdir(), 'gw-migrations-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  await cp(defaultMigrationsDir, dir, { recursive: true })
  const schemaPath = join(dir, 'schema.prisma')
  const schema = await readFile(defaultSchemaPath, 'utf8')
  await writeFile(schemaPath, `${schema}\nmodel Widget {\n  id   Int    @id @default(autoincrement())\n  name String @unique\n}\n`)

  const now = new Date('2030-01-02T03:04:05Z')
  const created = await createMigration('add widgets!', url, { migrationsDir: dir, schemaPath, now })
  if (created === null) throw new Error('expected a migration')
  t.equal(created.name, '20300102030405_add_widgets')
  t.match(created.script, /CREATE TABLE "Widget"/)
  t.notMatch(created.script, /CREATE TABLE "Tenant"/, 'only the difference')
  t.equal(await readFile(join(dir, created.name, 'migration.sql'), 'utf8'), created.script)

  const { applied } = await applyMigrations(url, dir)
  t.same(applied, [...committed, created.name])
  t.equal(await createMigration('again', url, { migrationsDir: dir, schemaPath }), null, 'and then nothing is left to diff')
})

t.test('createMigration starts a migrations directory with the lock file', async (t) => {
  const url = await testDatabase(t)
  const base = await mkdtemp(join(tmpdir(), 'gw-migrations-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dir = join(base, 'migrations')
  const created = await createMigration('init', url, { migrationsDir: dir })
  t.ok(created)
  t.match(await readFile(join(dir, 'migration_lock.toml'), 'utf8'), /provider = "postgresql"/)
  t.notMatch(created?.script ?? '', /CREATE SCHEMA/, 'no CREATE SCHEMA "public", like prisma migrate dev')
  t.match(created?.script ?? '', /CREATE TABLE "Tenant"/, 'from nothing, the whole schema')
})

t.test('the committed migrations are exactly prisma/schema.prisma: nothing is left to diff', async (t) => {
  const url = await testDatabase(t)
  const base = await mkdtemp(join(tmpdir(), 'gw-migrations-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dir = join(base, 'migrations')
  await cp(defaultMigrationsDir, dir, { recursive: true })
  t.equal(await createMigration('drift', url, { migrationsDir: dir }), null)
})

t.test('migration names', async (t) => {
  t.equal(migrationSlug(' add users-table '), 'add_users_table')
  t.throws(() => migrationSlug('!!!'), /Invalid migration name/)
  t.equal(migrationTimestamp(new Date('2025-12-31T23:59:58.999Z')), '20251231235958')
})
