// The database pool takes turns between tenants: while one tenant's queries wait for a
// connection, another tenant's query waits for about one of them, not for all. A wait is still
// bounded by DB_POOL_TIMEOUT_MS, and fails as node-postgres's own wait does.
import t from 'tap'
import { openDatabase } from '../../src/db/client.ts'
import { inLane } from '../../src/db/lanes.ts'
import { testDatabase } from '../helpers/database.ts'

t.test('one connection, tenant A\'s six queries waiting: tenant B\'s query is served after one of them, not after all', async (t) => {
  const db = openDatabase(await testDatabase(t), { max: 1 })
  t.teardown(async () => { await db.close() })
  // Prisma's first query loads its query compiler: not while the others wait
  await db.prisma.$queryRaw`SELECT 1`
  const done: string[] = []
  const query = async (who: string) => {
    await db.sql.rows('SELECT pg_sleep(0.05)', [])
    done.push(who)
  }
  const a = Array.from({ length: 6 }, async (_, i) => await inLane('tenant-a', async () => await query(`a${i}`)))
  // B asks once A's queries are all waiting
  await new Promise((resolve) => setTimeout(resolve, 20))
  const b = inLane('tenant-b', async () => await query('b'))
  // and Prisma's queries take the same turns
  const c = inLane('tenant-c', async () => { await db.prisma.$queryRaw`SELECT 1`; done.push('c') })
  await Promise.all([...a, b, c])
  t.equal(done.length, 8)
  // first come, first served would make them the last two
  t.ok(done.indexOf('b') <= 2, `B waits for one of A's queries at most (${done.join(' ')})`)
  t.ok(done.indexOf('c') <= 4, `so do Prisma's queries (${done.join(' ')})`)
})

t.test('a wait for a connection is bounded as before, and fails as node-postgres\'s own wait does', async (t) => {
  const db = openDatabase(await testDatabase(t), { max: 1, connectionTimeoutMs: 200 })
  t.teardown(async () => { await db.close() })
  const long = db.sql.rows('SELECT pg_sleep(1)', [])
  const began = Date.now()
  await t.rejects(inLane('tenant-b', async () => await db.sql.rows('SELECT 1', [])), { message: 'timeout exceeded when trying to connect' })
  t.ok(Date.now() - began < 900, 'failed after the pool timeout, not when the connection came back')
  await long
  t.same(await db.sql.rows('SELECT 1 AS one', []), [{ one: 1 }], 'the pool still serves')
})
