// A fresh, empty database for each test: on the server of DATABASE_URL when it is set (CI, the
// dev machine's Postgres), else on an embedded PostgreSQL started once per test file in a
// temporary directory and stopped when the file's tests end.
import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../src/db/embedded.ts'
import { withDatabase } from '../../src/db/schema-engine-adapter.ts'

interface TestServer {
  url: string
  embedded: boolean
}

let server: Promise<TestServer> | undefined

/** The server the test databases are created on (shared by the whole test file). */
function testServer (): Promise<TestServer> {
  server ??= (async () => {
    const url = process.env.DATABASE_URL
    if (url !== undefined && url !== '') {
      await dropAbandoned(url)
      return { url, embedded: false }
    }
    const dir = await mkdtemp(join(tmpdir(), 'gw-test-pg-'))
    const embedded = await startEmbeddedPostgres({ dataDir: dir })
    t.teardown(async () => {
      await embedded.stop()
      await rm(dir, { recursive: true, force: true })
    })
    return { url: embedded.url, embedded: true }
  })()
  return server
}

async function adminQuery (url: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}

const PREFIX = 'gw_test_'
const ABANDONED_AFTER_MS = 3 * 60 * 60 * 1000

/**
 * A test process that is killed (a timeout, Ctrl-C) never runs its teardown: its databases
 * stay on the shared server. Names carry their creation time, so later runs drop the ones
 * that are hours old and that nobody is connected to.
 */
async function dropAbandoned (url: string): Promise<void> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ datname: string }>(
      `SELECT datname FROM pg_database d WHERE datname LIKE '${PREFIX}%'
         AND NOT EXISTS (SELECT 1 FROM pg_stat_activity a WHERE a.datname = d.datname)`)
    for (const { datname } of rows) {
      const created = Number.parseInt(datname.slice(PREFIX.length).split('_')[0] ?? '', 36)
      if (!Number.isFinite(created) || Date.now() - created < ABANDONED_AFTER_MS) continue
      await client.query(`DROP DATABASE IF EXISTS "${datname}"`).catch(() => {})
    }
  } finally {
    await client.end()
  }
}

/** The URL of a new empty database, dropped at the end of `test`. */
export async function testDatabase (test: Test): Promise<string> {
  const { url, embedded } = await testServer()
  const name = `${PREFIX}${Date.now().toString(36)}_${randomBytes(4).toString('hex')}`
  await adminQuery(url, `CREATE DATABASE "${name}"`)
  // An embedded server is thrown away whole at the end of the file.
  if (!embedded) test.teardown(() => adminQuery(url, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`))
  return withDatabase(url, name)
}
