import t from 'tap'
import { existsSync } from 'node:fs'
import { PrismaPg } from '@prisma/adapter-pg'
import type { GetPrismaClientConfig } from '@prisma/client/runtime/client'
import { PrismaClient } from '../../src/generated/prisma/client.ts'
import { compileQueryCompiler, configOverride, queryCompilerFile } from '../../src/db/query-compiler.ts'
import { openDatabase } from '../../src/db/client.ts'
import { testDatabase } from '../helpers/database.ts'

// The generated client's own config, as the runtime hands it to the override.
function generatedConfig (): GetPrismaClientConfig {
  let seen: GetPrismaClientConfig | undefined
  const capture = (config: GetPrismaClientConfig) => { seen = config; return config }
  // the constructor calls the override; nothing connects until a query
  const client = new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgres://127.0.0.1:1/none' }), ...({ __internal: { configOverride: capture } } as object) })
  if (seen === undefined || client === undefined) throw new Error('the client did not call configOverride')
  return seen
}

t.test('the query compiler is read from the file the generated client would import', async (t) => {
  const config = generatedConfig()
  const file = queryCompilerFile(config)
  t.ok(file !== undefined && existsSync(file), `found ${file}`)
  const module = await compileQueryCompiler(file!)
  t.ok(WebAssembly.Module.exports(module).some((e) => e.name === '__wbindgen_start'), 'a wasm-bindgen module')
  const overridden = configOverride(config)
  t.not(overridden.compilerWasm?.getQueryCompilerWasmModule, config.compilerWasm?.getQueryCompilerWasmModule, 'the loader is replaced')
  t.equal(overridden.compilerWasm?.getRuntime, config.compilerWasm?.getRuntime, 'the glue is Prisma\'s')
})

t.test('a config of another shape keeps Prisma\'s own loader', async (t) => {
  const config = generatedConfig()
  const odd = { ...config, compilerWasm: { ...config.compilerWasm!, importName: './something_else.js' } }
  t.equal(configOverride(odd), odd)
})

t.test('a client opened by the gateway compiles queries with it', async (t) => {
  const db = openDatabase(await testDatabase(t))
  t.teardown(() => db.close())
  t.same(await db.prisma.$queryRaw`SELECT 1 AS one`, [{ one: 1 }])
})
