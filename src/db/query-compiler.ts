// Prisma's query compiler (WebAssembly) without its base64 text kept for the life of the
// process. The generated client imports it from an ES module whose one export is the
// module's bytes as a 4.4 MB base64 string; an ES module is never unloaded, so that source
// and the string exported from it stayed on the heap (8.7 MiB) long after the bytes were
// compiled. Here the same file is read as text, decoded and compiled, and all of it is
// garbage once the module is compiled. Everything else (the JavaScript glue, the compiled
// class shared by every client) stays Prisma's.
import { readFile } from 'node:fs/promises'
import { fileURLToPath } from 'node:url'
import type { GetPrismaClientConfig as Config } from '@prisma/client/runtime/client'

/**
 * The file the generated client would import for `config`: its glue module is named by
 * `importName` ("./query_compiler_fast_bg.js"), the base64 module beside it by that name and the
 * provider. Undefined when the config is not of that shape (a Prisma upgrade): Prisma's own
 * loader is used then.
 */
export function queryCompilerFile (config: Config): string | undefined {
  const name = /^\.\/(query_compiler_[a-z]+_bg)\.js$/.exec(config.compilerWasm?.importName ?? '')?.[1]
  if (name === undefined || config.activeProvider === undefined) return undefined
  try {
    return fileURLToPath(import.meta.resolve(`@prisma/client/runtime/${name}.${config.activeProvider}.wasm-base64.mjs`))
  } catch {
    return undefined
  }
}

/** The query compiler from `file`, a module of the form `export const wasm = "<base64>"`. */
export async function compileQueryCompiler (file: string): Promise<WebAssembly.Module> {
  const text = await readFile(file, 'latin1')
  const start = text.indexOf('"')
  const end = text.lastIndexOf('"')
  if (start === -1 || end <= start) throw new Error(`${file}: not a base64 WebAssembly module`)
  return new WebAssembly.Module(Buffer.from(text.slice(start + 1, end), 'base64'))
}

/**
 * The query compiler read as above, through the client's `__internal.configOverride` option
 * (Prisma's own hook for its tests; the generated types leave it out, the runtime checks its
 * keys, so a Prisma that drops it fails at construction, in every test, not silently).
 */
export const compilerOptions = { __internal: { configOverride } } as object

export function configOverride (config: Config): Config {
  const file = queryCompilerFile(config)
  if (file === undefined || config.compilerWasm === undefined) return config
  return { ...config, compilerWasm: { ...config.compilerWasm, getQueryCompilerWasmModule: async () => await compileQueryCompiler(file) } }
}
