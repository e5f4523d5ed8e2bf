// The client's generated types and methods come from the published document: regenerating
// them from openapi/openapi.json must give the committed file, and the package must build.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { generate, DEFAULT_DOCUMENT, DEFAULT_OUTPUT } from '../../clients/typescript/scripts/generate.ts'

const run = promisify(execFile)

t.test('the committed generated client matches the document', async (t) => {
  const document = JSON.parse(readFileSync(DEFAULT_DOCUMENT, 'utf8'))
  const fresh = generate(document)
  const committed = readFileSync(DEFAULT_OUTPUT, 'utf8')
  t.ok(fresh === committed, 'clients/typescript/src/generated.ts is up to date (run `npm run client:generate`)')

  // every operation of the document is a method named by its operationId
  const ids: string[] = []
  for (const item of Object.values<Record<string, { operationId?: string }>>(document.paths)) {
    for (const [method, op] of Object.entries(item)) if (['get', 'post', 'put', 'patch', 'delete'].includes(method)) ids.push(op.operationId!)
  }
  t.ok(ids.length > 40)
  const { GatewayClient } = await import('../../clients/typescript/src/index.ts')
  const missing = ids.filter(id => typeof (GatewayClient.prototype as unknown as Record<string, unknown>)[id] !== 'function')
  t.same(missing, [], 'a method for every operationId')
})

t.test('the package builds to dist with declarations', async (t) => {
  const out = await mkdtemp(join(tmpdir(), 'tsclient-'))
  t.teardown(async () => { await rm(out, { recursive: true, force: true }) })
  await run(process.execPath, [join('node_modules', 'typescript', 'bin', 'tsc'), '-p', 'clients/typescript/tsconfig.json', '--outDir', out])
  await run(process.execPath, ['clients/typescript/scripts/fix-dts.js', out])
  const pkg = JSON.parse(readFileSync('clients/typescript/package.json', 'utf8'))
  for (const entry of Object.values<{ types: string, default: string }>(pkg.exports)) {
    for (const file of [entry.types, entry.default]) {
      const text = await readFile(join(out, file.replace('./dist/', '')), 'utf8')
      t.notMatch(text, /from '\.\/[\w-]+\.ts'/, `${file} imports what the package ships`)
    }
  }
  const built = await import(join(out, 'index.js'))
  t.equal(typeof built.GatewayClient, 'function')
  t.equal(typeof built.verifyWebhook, 'function')
  t.equal(typeof built.GatewayProblem, 'function')
})
