// Prisma's schema engine (the part behind `prisma migrate`) compiled to WebAssembly, so the
// gateway never needs Prisma's native engine binary (toolchain.md).
//
// Two quirks are handled here:
// - the package's entry imports its .wasm as an ES module, which Node 20 cannot do, so the
//   wasm-bindgen glue (`schema_engine_bg.js`) is loaded on its own and the module is
//   instantiated by hand;
// - the engine calls the driver adapter's methods unbound and expects every result as
//   `{ ok: true, value } | { ok: false, error }`, while `PrismaPg` returns plain values and
//   throws. `bindFactory` sits between them (as @prisma/driver-adapter-utils does for the
//   query engine), and provides the shadow database the engine needs to replay migrations.
import { randomUUID } from 'node:crypto'
import { readFile } from 'node:fs/promises'
import { PrismaPg } from '@prisma/adapter-pg'
import pg from 'pg'
import type {
  SchemaEngine,
  MigrationList,
  SchemaFilter
} from '@prisma/schema-engine-wasm'

export type { SchemaEngine, MigrationList, SchemaFilter }

type EngineModule = typeof import('@prisma/schema-engine-wasm')

type Result = { ok: true, value: unknown } | { ok: false, error: unknown }
type AnyFn = (...args: unknown[]) => unknown
type Bindable = Record<string, unknown>

export const noFilter: SchemaFilter = { externalTables: [], externalEnums: [] }

let engineModule: Promise<EngineModule> | undefined
// After a panic the instance must not be used again; the next session instantiates a new one.
let panicMessage: string | undefined

/** The engine's module, instantiated once per process. */
export function loadSchemaEngine (): Promise<EngineModule> {
  engineModule ??= instantiate().catch((err: unknown) => {
    engineModule = undefined
    throw err
  })
  return engineModule
}

async function instantiate (): Promise<EngineModule> {
  const glueUrl = import.meta.resolve('@prisma/schema-engine-wasm/schema_engine_bg')
  const bg = await import(glueUrl) as EngineModule & { __wbg_set_wasm: (exports: unknown) => void }
  const bytes = await readFile(new URL('./schema_engine_bg.wasm', glueUrl))
  const wasm: { memory?: WebAssembly.Memory } = {}
  const imports: Record<string, unknown> = { ...bg }
  for (const name of Object.keys(imports)) {
    if (name.startsWith('__wbg_setTimeout_')) imports[name] = trackedSetTimeout
    // The glue reports a Rust panic to a global registry that the Prisma client also claims
    // (and whose handler throws); this module keeps its own panics to itself instead.
    if (name.startsWith('__wbg_set_message_')) {
      imports[name] = (ptr: number, len: number) => {
        panicMessage = wasm.memory === undefined ? 'unknown panic' : new TextDecoder().decode(new Uint8Array(wasm.memory.buffer, ptr >>> 0, len))
      }
    }
  }
  const { instance } = await WebAssembly.instantiate(bytes, {
    './schema_engine_bg.js': imports as WebAssembly.ModuleImports
  })
  wasm.memory = instance.exports.memory as WebAssembly.Memory
  bg.__wbg_set_wasm(instance.exports)
  ;(instance.exports.__wbindgen_start as () => void)()
  return bg
}

// The engine races its work against timers it never clears (a 10 s one on every connection),
// which would keep the process alive long after a migration. They are tracked, and cleared once
// no engine is running.
const pendingTimers = new Set<NodeJS.Timeout>()
let runningEngines = 0

function trackedSetTimeout (fn: () => void, ms: number): NodeJS.Timeout {
  const timer = setTimeout(() => {
    pendingTimers.delete(timer)
    fn()
  }, ms >>> 0)
  pendingTimers.add(timer)
  return timer
}

function engineStarted (): void {
  runningEngines++
}

function engineDone (): void {
  if (--runningEngines > 0) return
  for (const timer of pendingTimers) clearTimeout(timer)
  pendingTimers.clear()
}

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

export async function createShadowDatabase (databaseUrl: string): Promise<{ url: string, drop: () => Promise<void> }> {
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

export interface EngineSession {
  engine: SchemaEngine
  registry: ErrorRegistry
  /** Rethrow an engine failure with the JS error behind it, if there was one. */
  explain: (err: unknown) => Error
}

/**
 * Run `fn` with a schema engine connected to `databaseUrl`; the engine is freed afterwards.
 * `datamodel` is the Prisma schema text (needed by commands that read it).
 */
export async function withSchemaEngine<T> (
  databaseUrl: string,
  datamodel: { path: string, content: string } | undefined,
  fn: (session: EngineSession) => Promise<T>,
  log: (message: string) => void = () => {}
): Promise<T> {
  const { SchemaEngine } = await loadSchemaEngine()
  const registry = new ErrorRegistry()
  const options = { datamodels: datamodel === undefined ? undefined : [[datamodel.path, datamodel.content]] as [string, string][] }
  const onLog = (line: unknown) => { log(typeof line === 'string' ? line : JSON.stringify(line)) }
  const explain = (err: unknown): Error => {
    if (panicMessage !== undefined) {
      const message = panicMessage
      panicMessage = undefined
      engineModule = undefined
      return new Error(`Schema engine panicked: ${message}`, { cause: err })
    }
    const cause = registry.last()
    const message = err instanceof Error ? err.message : String(err)
    const detail = cause instanceof Error ? `: ${cause.message}` : ''
    return new Error(`Schema engine: ${message}${detail}`, { cause: cause ?? err })
  }
  const bound = bindFactory(databaseUrl, registry)
  engineStarted()
  try {
    let engine: SchemaEngine
    try {
      engine = await SchemaEngine.new(options, onLog, bound.factory)
    } catch (err) {
      throw explain(err)
    }
    try {
      return await fn({ engine, registry, explain })
    } finally {
      engine.free()
    }
  } finally {
    await bound.close()
    engineDone()
  }
}
