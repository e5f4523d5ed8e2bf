// Prisma's schema engine (the part behind `prisma migrate`) compiled to WebAssembly, so the
// gateway never needs Prisma's native engine binary. The package's entry
// imports its .wasm as an ES module, which Node 20 cannot do, so the wasm-bindgen glue
// (`schema_engine_bg.js`) is loaded on its own and the module is instantiated by hand. The
// database side (the driver adapter the engine expects) is in schema-engine-adapter.ts.
import { readFile } from 'node:fs/promises'
import { bindFactory, ErrorRegistry } from './schema-engine-adapter.ts'
import type {
  SchemaEngine,
  MigrationList,
  SchemaFilter
} from '@prisma/schema-engine-wasm'

export type { MigrationList, SchemaFilter }

type EngineModule = typeof import('@prisma/schema-engine-wasm')

export const noFilter: SchemaFilter = { externalTables: [], externalEnums: [] }

let engineModule: Promise<EngineModule> | undefined
// After a panic the instance must not be used again; the next session instantiates a new one.
let panicMessage: string | undefined

/** The engine's module, instantiated once per process. */
function loadSchemaEngine (): Promise<EngineModule> {
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
