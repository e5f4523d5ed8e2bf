// `npm run openapi`: writes openapi/openapi.json from the route schemas. A test fails when
// the committed file and the code disagree, so the published document cannot drift.
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify from 'fastify'
import app from '../src/app.ts'
import { loadConfig } from '../src/config.ts'

const dataDir = await mkdtemp(join(tmpdir(), 'ngw-openapi-'))
const config = loadConfig({ ...process.env, DATA_DIR: dataDir, LOG_LEVEL: 'warn', FIRST_RUN_TENANT: 'false' })
const fastify = Fastify({ logger: false, pluginTimeout: 120_000 })
try {
  await fastify.register(app, { config })
  await fastify.ready()
  const file = new URL('../openapi/openapi.json', import.meta.url)
  await writeFile(file, JSON.stringify(fastify.swagger(), null, 2) + '\n')
  console.log(`wrote ${file.pathname}`)
} finally {
  await fastify.close()
  await rm(dataDir, { recursive: true, force: true })
}
