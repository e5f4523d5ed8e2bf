// The driver adapter the WebAssembly schema engine expects, over `PrismaPg`. The engine calls
// the adapter's methods unbound and wants every result as `{ ok: true, value } | { ok: false,
// error }`, while `PrismaPg` returns plain values and throws; `bindFactory` sits between them
// (as @prisma/driver-adapter-utils does for the query engine) and provides the shadow
// database the engine needs to replay the migrations directory.
import { randomUUID } from 'node:crypto'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import { splitSqlScript } from './sql-script.ts'

type Result = { ok: true, value: unknown } | { ok: false, error: unknown }
type AnyFn = (...args: unknown[]) => unknown
type Bindable = Record<string, unknown>

/** JS errors the engine only sees as `GenericJs { id }`; kept so a failure can say what happened. */
export class ErrorRegistry {
  readonly #errors = new Map<number, unknown>()
  #next = 0

  register (error: unknown): number {
    const id = this.#next++
    this.#errors.set(id, error)
    return id
  }

  consumeError (id: number): { error: unknown } | undefined {
    if (!this.#errors.has(id)) return undefined
    const error = this.#errors.get(id)
    this.#errors.delete(id)
    return { error }
  }

  /** The last JS error, if any: the most likely cause of an engine failure. */
  last (): unknown {
    let last: unknown
    for (const error of this.#errors.values()) last = error
    return last
  }
}

function isDriverAdapterError (error: unknown): error is { cause: unknown } {
  return error instanceof Error && error.name === 'DriverAdapterError' && typeof error.cause === 'object'
}

function wrap (registry: ErrorRegistry, fn: AnyFn, rewrap?: (value: unknown) => unknown) {
  return async (...args: unknown[]): Promise<Result> => {
    try {
      const value = await fn(...args)
      return { ok: true, value: rewrap === undefined ? value : rewrap(value) }
    } catch (error) {
      if (isDriverAdapterError(error)) return { ok: false, error: error.cause }
      return { ok: false, error: { kind: 'GenericJs', id: registry.register(error) } }
    }
  }
}

function wrapSync (registry: ErrorRegistry, fn: AnyFn) {
  return (...args: unknown[]): Result => {
    try {
      return { ok: true, value: fn(...args) }
    } catch (error) {
      if (isDriverAdapterError(error)) return { ok: false, error: error.cause }
      return { ok: false, error: { kind: 'GenericJs', id: registry.register(error) } }
    }
  }
}

// Methods whose value is itself an object with methods (a transaction), wrapped the same way.
const RETURNS_QUERYABLE = new Set(['startTransaction'])

/** Bind every method of `target` (own and inherited) and wrap its result. */
function bindObject (registry: ErrorRegistry, target: Bindable): Bindable {
  readCharColumns(target)
  const bound: Bindable = { errorRegistry: registry }
  let proto: object | null = target
  const seen = new Set<string>()
  while (proto !== null && proto !== Object.prototype) {
    for (const key of Object.getOwnPropertyNames(proto)) {
      if (key === 'constructor' || seen.has(key)) continue
      seen.add(key)
      const value = target[key]
      if (typeof value !== 'function') {
        bound[key] = value
        continue
      }
      const fn = (value as AnyFn).bind(target)
      if (key === 'getConnectionInfo') {
        bound[key] = wrapSync(registry, fn)
      } else if (RETURNS_QUERYABLE.has(key)) {
        bound[key] = wrap(registry, fn, (inner) => bindObject(registry, inner as Bindable))
      } else {
        bound[key] = wrap(registry, fn)
      }
    }
    proto = Object.getPrototypeOf(proto) as object | null
  }
  return bound
}

// Postgres' internal one-byte type "char" (pg_constraint.contype, pg_class.relkind, ...) is
// read by the engine when it describes a database (the shadow database, when diffing from
// the migrations directory), but `PrismaPg` refuses it as an unsupported native type. The
// query is let through as text, then its columns are reported as the engine's `Character`
// type, which it reads those columns as (node-postgres hands the values over as strings).
const PG_CHAR_OID = 18
const PG_TEXT_OID = 25
const CHARACTER_COLUMN_TYPE = 6 // ColumnTypeEnum.Character in @prisma/driver-adapter-utils

function readCharColumns (queryable: Bindable): void {
  const performIO = queryable.performIO
  const queryRaw = queryable.queryRaw
  if (typeof performIO !== 'function' || typeof queryRaw !== 'function') return
  // queryRaw returns the very `rows` array performIO produced: it carries the column indexes across.
  const charColumns = new WeakMap<object, number[]>()
  Object.defineProperty(queryable, 'performIO', {
    value: async (...args: unknown[]) => {
      const result = await (performIO as AnyFn).apply(queryable, args) as { fields?: { dataTypeID: number }[], rows?: object }
      const indexes: number[] = []
      result.fields?.forEach((field, i) => {
        if (field.dataTypeID !== PG_CHAR_OID) return
        field.dataTypeID = PG_TEXT_OID
        indexes.push(i)
      })
      if (indexes.length > 0 && result.rows !== undefined) charColumns.set(result.rows, indexes)
      return result
    }
  })
  Object.defineProperty(queryable, 'queryRaw', {
    value: async (...args: unknown[]) => {
      const result = await (queryRaw as AnyFn).apply(queryable, args) as { columnTypes: number[], rows: object }
      for (const i of charColumns.get(result.rows) ?? []) result.columnTypes[i] = CHARACTER_COLUMN_TYPE
      return result
    }
  })
}

export interface BoundFactory {
  /** What the engine is given. */
  factory: Bindable
  /** Dispose of every connection the engine opened and did not dispose of itself. */
  close: () => Promise<void>
}

/**
 * The adapter factory the engine expects, for one database URL. The shadow database (used
 * to replay the migrations directory when creating a migration) is a temporary database on
 * the same server, dropped when the engine or `close()` disposes of it.
 */
export function bindFactory (databaseUrl: string, registry = new ErrorRegistry()): BoundFactory {
  const main = new PrismaPg({ connectionString: databaseUrl })
  const open = new Set<() => Promise<void>>()

  // Every connection gets a dispose that runs once, whoever calls it first.
  const track = (adapter: Bindable, after?: () => Promise<void>): Bindable => {
    const dispose = (adapter.dispose as () => Promise<void>).bind(adapter)
    let done: Promise<void> | undefined
    const once = () => {
      done ??= (async () => {
        open.delete(once)
        try {
          await dispose()
        } finally {
          await after?.()
        }
      })()
      return done
    }
    open.add(once)
    Object.defineProperty(adapter, 'dispose', { value: once })
    // the adapter's own cuts a script at every `;`, function bodies included
    const self = adapter as unknown as { client: { query: (text: string) => Promise<unknown> }, onError: (error: unknown) => never }
    Object.defineProperty(adapter, 'executeScript', {
      value: async (script: string) => {
        for (const statement of splitSqlScript(script)) {
          try {
            await self.client.query(statement)
          } catch (error) {
            self.onError(error)
          }
        }
      }
    })
    return bindObject(registry, adapter)
  }

  const connect = async () => track(await main.connect() as unknown as Bindable)
  const connectToShadowDb = async () => {
    const shadow = await createShadowDatabase(databaseUrl)
    try {
      const adapter = await new PrismaPg({ connectionString: shadow.url }).connect()
      return track(adapter as unknown as Bindable, shadow.drop)
    } catch (err) {
      await shadow.drop()
      throw err
    }
  }
  return {
    factory: {
      adapterName: main.adapterName,
      provider: main.provider,
      errorRegistry: registry,
      connect: wrap(registry, connect),
      connectToShadowDb: wrap(registry, connectToShadowDb)
    },
    close: async () => { await Promise.allSettled([...open].map(async (dispose) => dispose())) }
  }
}

/** Swap the database name in a Postgres URL. */
export function withDatabase (databaseUrl: string, database: string): string {
  const url = new URL(databaseUrl)
  url.pathname = `/${encodeURIComponent(database)}`
  return url.toString()
}

async function createShadowDatabase (databaseUrl: string): Promise<{ url: string, drop: () => Promise<void> }> {
  const name = `prisma_shadow_${randomUUID().replaceAll('-', '')}`
  await adminQuery(databaseUrl, `CREATE DATABASE "${name}"`)
  return {
    url: withDatabase(databaseUrl, name),
    drop: () => adminQuery(databaseUrl, `DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`)
  }
}

async function adminQuery (databaseUrl: string, sql: string): Promise<void> {
  const client = new pg.Client({ connectionString: databaseUrl })
  await client.connect()
  try {
    await client.query(sql)
  } finally {
    await client.end()
  }
}
