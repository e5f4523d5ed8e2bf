// Backup and restore as an operator runs them (`npm run admin -- backup|restore`, real
// processes): a gateway with a session, a completed export and a webhook endpoint is backed up;
// a fresh database restored from the file serves them again, and the endpoint's secret still
// signs a delivery the receiver verifies. A restore under another key, or into a database that
// holds data, is refused with one clear line and writes nothing.
import t from 'tap'
import { execFile } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import pg from 'pg'
import { buildGateway } from '../helpers/app.ts'
import { testDatabase } from '../helpers/database.ts'
import { exportSetup, settled, FAST_EXPORTS } from '../helpers/exports.ts'

const run = promisify(execFile)

async function admin (args: string[], env: Record<string, string>): Promise<{ code: number, stdout: string, stderr: string }> {
  try {
    const out = await run(process.execPath, ['--import=tsx', 'src/cli/admin.ts', ...args], { env: { ...process.env, LOG_LEVEL: 'warn', ...env } })
    return { code: 0, ...out }
  } catch (err) {
    const e = err as { code: number, stdout: string, stderr: string }
    return { code: e.code, stdout: e.stdout, stderr: e.stderr }
  }
}

async function tableCount (url: string): Promise<number> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    const { rows } = await client.query<{ n: number }>('SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = \'public\'')
    return rows[0]!.n
  } finally {
    await client.end()
  }
}

t.test('backup, a fresh database, restore: sessions, exports and webhook endpoints are back and the secret still signs', async (t) => {
  const key = randomBytes(32).toString('hex')
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t, { config: { ENCRYPTION_KEY: key } })
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  const exported = await settled(acme, 'alice', started.id)
  t.equal(exported.status, 'completed')
  await receiver.waitFor(1)

  const dir = await mkdtemp(join(tmpdir(), 'gw-backup-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const file = join(dir, 'gateway.backup')
  const source = gw.config.DATABASE_URL!
  const backup = await admin(['backup', file], { DATABASE_URL: source, ENCRYPTION_KEY: key })
  t.equal(backup.code, 0, backup.stderr)
  const made = JSON.parse(backup.stdout)
  t.equal(made.bytes, (await stat(file)).size, 'it says how large the file is')
  t.equal(made.rows.Session, 1)
  t.equal(made.rows.Export, 1)
  t.equal(made.rows.WebhookEndpoint, 1)
  t.ok(made.rows.SessionEvent > 3, `${made.rows.SessionEvent} events`)
  t.match(made.migration, /^\d{14}_/, 'and at which migration the data is')
  const again = await admin(['backup', file], { DATABASE_URL: source, ENCRYPTION_KEY: key })
  t.match(again.stderr, /^GW_ERR_CONFLICT: .* exists/, 'a backup never overwrites a file')

  // another key: refused before anything is written
  const elsewhere = await testDatabase(t)
  const wrongKey = await admin(['restore', file], { DATABASE_URL: elsewhere, ENCRYPTION_KEY: randomBytes(32).toString('hex') })
  t.equal(wrongKey.code, 1)
  t.match(wrongKey.stderr, /^GW_ERR_VALIDATION: the backup's upstream tokens and webhook secrets were encrypted with another key/)
  t.equal(await tableCount(elsewhere), 0, 'the database was not touched')

  // a database that holds data: refused unless --force (the source gateway still runs on it, too)
  const busy = await admin(['restore', file], { DATABASE_URL: source, ENCRYPTION_KEY: key })
  t.match(busy.stderr, /^GW_ERR_CONFLICT: a gateway is connected to this database/)

  // the real thing: a fresh database, the same key
  const target = await testDatabase(t)
  const restore = await admin(['restore', file], { DATABASE_URL: target, ENCRYPTION_KEY: key })
  t.equal(restore.code, 0, restore.stderr)
  t.same(JSON.parse(restore.stdout).rows, made.rows, 'every table has the rows of the manifest')
  const notEmpty = await admin(['restore', file], { DATABASE_URL: target, ENCRYPTION_KEY: key })
  t.match(notEmpty.stderr, /^GW_ERR_CONFLICT: the database is not empty .* --force/)
  const forced = await admin(['restore', file, '--force'], { DATABASE_URL: target, ENCRYPTION_KEY: key })
  t.equal(forced.code, 0, `--force replaces it: ${forced.stderr}`)

  const restored = await buildGateway(t, { databaseUrl: target, config: { ...FAST_EXPORTS, ENCRYPTION_KEY: key } })
  const as = async (url: string) => await restored.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' } })
  t.equal((await as(`/v1/sessions/${session.id}`)).json().id, session.id, 'the session is back, for the same API key')
  const back = (await as(`/v1/exports/${started.id}`)).json()
  t.equal(back.status, 'completed', 'the export is back, completed')
  t.equal(back.downloadUrl.endsWith(`/v1/exports/${started.id}/download`), true)
  const endpoints = (await as('/v1/webhooks/endpoints')).json()
  t.same(endpoints.items.map((e: { id: string }) => e.id), [endpoint.id], 'the webhook endpoint is back')
  const events = (await as(`/v1/sessions/${session.id}/events?limit=500`)).json()
  t.equal(events.items.length, made.rows.SessionEvent, 'the whole event log is back')

  // the endpoint's secret decrypts under the same key: a replay is signed and verifies
  const message = await restored.app.prisma.webhookMessage.findFirstOrThrow()
  const replay = await restored.app.inject({ method: 'POST', url: `/v1/webhooks/messages/${message.id}/replay`, headers: { authorization: `Bearer ${acme.key}` } })
  t.ok(replay.statusCode < 300, `replay: ${replay.statusCode} ${replay.body}`)
  const deliveries = await receiver.waitFor(2)
  t.equal(deliveries[1]!.verifiedWith, endpoint.secret, 'the replay is signed with the endpoint\'s original secret')

  // sequences continue after the restored ids
  const maxCursor = BigInt(events.items.at(-1).cursor)
  const appended = await restored.app.prisma.sessionEvent.create({ data: { sessionId: session.id, type: 'notice', payload: {} } })
  t.ok(appended.cursor > maxCursor, 'a new event gets a cursor after the restored ones')
})

t.test('a file that is not a backup, or is cut short, is refused with one line', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'gw-backup-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  const target = await testDatabase(t)
  const env = { DATABASE_URL: target, ENCRYPTION_KEY: randomBytes(32).toString('hex') }
  const missing = await admin(['restore', join(dir, 'nope')], env)
  t.match(missing.stderr, /^GW_ERR_NOT_FOUND: no backup file/)
  const junk = join(dir, 'junk')
  await run('sh', ['-c', `echo hello | gzip > ${junk}`])
  const notOne = await admin(['restore', junk], env)
  t.match(notOne.stderr, /^GW_ERR_VALIDATION: .* is not a readable gateway backup/)
  t.equal(await tableCount(target), 0)
})
