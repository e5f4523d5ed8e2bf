// The database clients of a process: one node-postgres pool, shared by Prisma (through
// @prisma/adapter-pg) and by the few hot-path reads written as SQL. bench/ measured a
// Prisma `findFirst` at about three times the CPU of the same query through `pg` on the same
// pool (bench/README.md), so a read served on every request may be plain SQL; everything
// else goes through Prisma. A checkout waits for a connection in its tenant's lane (db/lanes.ts).
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../generated/prisma/client.ts'
import { compilerOptions } from './query-compiler.ts'
import { Lanes } from './lanes.ts'

type Rows = <T>(text: string, values: unknown[]) => Promise<T[]>

/** Plain SQL on the shared pool: parameterised text, rows out. */
export interface Sql {
  rows: Rows
  /** Statements on one connection between BEGIN and COMMIT (ROLLBACK when `work` throws). */
  transaction: <T>(work: (rows: Rows) => Promise<T>) => Promise<T>
  /**
   * Several statements in one round trip: Postgres runs them as one implicit transaction (all
   * or nothing; locks held to its end), each statement seeing what committed before it began.
   * The rows of each statement, in order. No parameters: values go in through `literal`.
   */
  script: (text: string) => Promise<unknown[][]>
  /**
   * A statement prepared once per connection under `name` (parsed and planned there once, then
   * only bound and run): for the statements of the hot path. One name, one text, always.
   */
  prepared: <T>(name: string, text: string, values: unknown[]) => Promise<T[]>
  /** A value as an SQL literal (quoted and escaped), or NULL. */
  literal: (value: string | null) => string
}

export interface Database {
  prisma: PrismaClient
  sql: Sql
  close: () => Promise<void>
}

export interface DatabaseOptions {
  /** Connections in the pool (DB_POOL_MAX). */
  max?: number
  /** Waiting for a free connection fails after this long (DB_POOL_TIMEOUT_MS). */
  connectionTimeoutMs?: number
  /** A query without an answer fails after this long (DB_QUERY_TIMEOUT_MS). */
  queryTimeoutMs?: number
  onPoolError?: (err: Error) => void
}

type Checkout = (err: Error | undefined, client?: pg.PoolClient, release?: (err?: Error | boolean) => void) => void

/**
 * Every checkout of the pool (its own `query` makes one too, as do Prisma's queries) first
 * passes `lanes`: the pool never has more asking than it has connections, so it never queues,
 * and whoever waits does so in its lane.
 */
function takeTurns (pool: pg.Pool, lanes: Lanes): void {
  const connect = pool.connect.bind(pool) as () => Promise<pg.PoolClient>
  const checkout = async (): Promise<pg.PoolClient> => {
    const wait = lanes.enter()
    if (wait !== undefined) await wait
    let client: pg.PoolClient
    try {
      client = await connect()
    } catch (err) {
      lanes.leave()
      throw err
    }
    // the pool gives each checkout its own release; the lane's turn ends with it
    const release = client.release
    let released = false
    client.release = (err?: Error | boolean) => {
      if (!released) {
        released = true
        lanes.leave()
      }
      release.call(client, err)
    }
    return client
  }
  pool.connect = function (callback?: Checkout) {
    if (callback === undefined) return checkout()
    checkout().then((client) => { callback(undefined, client, client.release) }, (err: Error) => { callback(err) })
  } as typeof pool.connect
}

export function openDatabase (url: string, opts: DatabaseOptions = {}): Database {
  // both ends bounded: a stalled database (SIGSTOP, a dead network path) fails the query
  // or the wait for a connection, which the problems plugin answers with 503
  const pool = new pg.Pool({
    connectionString: url,
    max: opts.max ?? 10,
    ...(opts.connectionTimeoutMs !== undefined ? { connectionTimeoutMillis: opts.connectionTimeoutMs } : {}),
    ...(opts.queryTimeoutMs !== undefined ? { query_timeout: opts.queryTimeoutMs, statement_timeout: opts.queryTimeoutMs } : {})
  })
  // an idle connection that dies (a restarted server) must not crash the process
  pool.on('error', (err) => opts.onPoolError?.(err))
  takeTurns(pool, new Lanes(opts.max ?? 10, opts.connectionTimeoutMs))
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool), ...compilerOptions })
  let closed: Promise<void> | undefined
  return {
    prisma,
    sql: {
      script: async (text: string) => {
        const results = await pool.query(text) as unknown as pg.QueryResult | pg.QueryResult[]
        return (Array.isArray(results) ? results : [results]).map((r) => r.rows)
      },
      literal: (value: string | null) => value === null ? 'NULL' : pg.escapeLiteral(value),
      rows: async <T>(text: string, values: unknown[]) => (await pool.query(text, values)).rows as T[],
      prepared: async <T>(name: string, text: string, values: unknown[]) => (await pool.query({ name, text, values })).rows as T[],
      transaction: async <T>(work: (rows: Rows) => Promise<T>): Promise<T> => {
        const client = await pool.connect()
        let broken = false
        try {
          await client.query('BEGIN')
          const result = await work(async <R>(text: string, values: unknown[]) => (await client.query(text, values)).rows as R[])
          await client.query('COMMIT')
          return result
        } catch (err) {
          // a connection that cannot even roll back is not given back to the pool
          await client.query('ROLLBACK').catch(() => { broken = true })
          throw err
        } finally {
          client.release(broken)
        }
      }
    },
    close: async () => {
      closed ??= (async () => {
        await prisma.$disconnect()
        await pool.end()
      })()
      await closed
    }
  }
}
