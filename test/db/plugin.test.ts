import t, { type Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Writable } from 'node:stream'
import Fastify, { type FastifyInstance } from 'fastify'
import { buildConfig, type Config } from '../../src/config.ts'
import db from '../../src/plugins/db.ts'
import { KEY_FILE } from '../../src/db/encryption-key.ts'
import { testDatabase } from '../helpers/database.ts'

type Overrides = Partial<Record<keyof Config, string | number | boolean>>

async function build (t: Test, overrides: Overrides, opts: { logLevel?: string } = {}): Promise<{ app: FastifyInstance, logs: string[] }> {
  const logs: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { logs.push(String(chunk)); cb() } })
  // A first start runs initdb and every migration: more than Fastify's default 10 s on a busy machine.
  const app = Fastify({ logger: { level: opts.logLevel ?? 'info', stream }, pluginTimeout: 120_000 })
  app.decorate('config', configFor(overrides))
  app.register(db)
  t.teardown(() => app.close())
  await app.ready()
  return { app, logs }
}

// buildConfig() also reads process.env (env-schema merges it): a test of the embedded mode
// must not pick up the DATABASE_URL the test run itself was given.
function configFor (overrides: Overrides): Config {
  if ('DATABASE_URL' in overrides) return buildConfig(overrides)
  const saved = process.env.DATABASE_URL
  delete process.env.DATABASE_URL
  try {
    return buildConfig(overrides)
  } finally {
    if (saved !== undefined) process.env.DATABASE_URL = saved
  }
}

function listening (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

async function tempDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-db-plugin-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

t.test('DATABASE_URL: migrates, then serves Prisma', async (t) => {
  const url = await testDatabase(t)
  const key = randomBytes(32)
  const { app } = await build(t, { DATABASE_URL: url, ENCRYPTION_KEY: key.toString('base64'), DATA_DIR: await tempDir(t) })
  t.equal(app.db.embedded, false)
  t.equal(app.db.url, url)
  t.equal(await app.db.ping(), true)
  t.same(app.encryptionKey, key, 'ENCRYPTION_KEY as base64')
  const tenant = await app.prisma.tenant.create({ data: { name: 'acme' } })
  t.equal(await app.prisma.tenant.count(), 1)
  t.match(tenant, { name: 'acme', tokenMode: 'anonymous' })
  await app.close()
  t.equal(await app.db.ping(), false, 'not ready once closed')
})

t.test('two instances starting at once against one new database both come up', async (t) => {
  const url = await testDatabase(t)
  const key = randomBytes(32).toString('hex')
  const dataDir = await tempDir(t)
  const [a, b] = await Promise.all([
    build(t, { DATABASE_URL: url, ENCRYPTION_KEY: key, DATA_DIR: dataDir }),
    build(t, { DATABASE_URL: url, ENCRYPTION_KEY: key, DATA_DIR: dataDir })
  ])
  await a.app.prisma.tenant.create({ data: { name: 'from-a' } })
  t.equal(await b.app.prisma.tenant.count(), 1, 'they share one database')
  const said = [...a.logs, ...b.logs].join('')
  t.match(said, /applied 1 migration|applied \d+ migration/, 'one of them migrated')
  t.match(said, /up to date/, 'the other found nothing to do')
})

t.test('no DATABASE_URL: embedded PostgreSQL under DATA_DIR, kept across restarts, stopped on close', async (t) => {
  const dataDir = await tempDir(t)
  const first = await build(t, { DATA_DIR: dataDir })
  t.equal(first.app.db.embedded, true)
  t.equal(await first.app.db.ping(), true)
  await first.app.prisma.tenant.create({ data: { name: 'persisted' } })
  const port = Number(new URL(first.app.db.url).port)
  t.ok(await listening(port))

  const keyFile = join(dataDir, KEY_FILE)
  t.equal((await stat(keyFile)).mode & 0o777, 0o600, 'the generated key is private')
  const said = first.logs.join('')
  t.match(said, /ENCRYPTION_KEY is not set/, 'one warning about the generated key')
  t.match(said, /embedded PostgreSQL initialised and started on 127\.0\.0\.1:\d+ in \d+ ms/)
  t.notMatch(said, /database system is ready/, 'postgres itself stays quiet at info level')
  t.notMatch(said, new RegExp(first.app.encryptionKey.toString('hex')), 'the key is never logged')
  t.notMatch(said, /postgres:\/\/[^"]*@/, 'nor the URL with its password')

  await first.app.close()
  t.notOk(await listening(port), 'embedded PostgreSQL stopped on close')

  const second = await build(t, { DATA_DIR: dataDir }, { logLevel: 'debug' })
  t.same(second.app.encryptionKey, first.app.encryptionKey, 'the key file is reused')
  t.equal(await second.app.prisma.tenant.count({ where: { name: 'persisted' } }), 1, 'the data is still there')
  t.match(second.logs.join(''), /database system is ready/, 'postgres output shows at debug level')
})

t.test('an invalid ENCRYPTION_KEY stops the start and says which setting is wrong', async (t) => {
  const app = Fastify({ logger: false })
  app.decorate('config', buildConfig({ DATABASE_URL: 'postgres://nobody@127.0.0.1:1/none', ENCRYPTION_KEY: 'x'.repeat(40) }))
  app.register(db)
  await t.rejects(async () => { await app.ready() }, /ENCRYPTION_KEY/)
})

t.test('an unreachable DATABASE_URL stops the start', async (t) => {
  const app = Fastify({ logger: false })
  app.decorate('config', buildConfig({ DATABASE_URL: 'postgres://postgres@127.0.0.1:1/postgres', ENCRYPTION_KEY: randomBytes(32).toString('hex') }))
  app.register(db)
  await t.rejects(async () => { await app.ready() }, /ECONNREFUSED|connect/i)
})
