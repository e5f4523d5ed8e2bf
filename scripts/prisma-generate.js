// `prisma generate` without Prisma's native engine download: the CLI insists that a
// schema-engine binary exists before `generate`, but never runs it for generate, so any
// existing file satisfies the check. The client it writes is WebAssembly-only.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const cli = require.resolve('prisma/build/index.js')
const result = spawnSync(process.execPath, [cli, 'generate'], {
  stdio: 'inherit',
  env: { ...process.env, PRISMA_SCHEMA_ENGINE_BINARY: process.execPath, PRISMA_HIDE_UPDATE_MESSAGE: '1' }
})
process.exit(result.status ?? 1)
