import t, { type Test } from 'tap'
import { execFile, spawn } from 'node:child_process'
import { promisify } from 'node:util'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { connect } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { createInterface } from 'node:readline'
import pg from 'pg'
import { startEmbeddedPostgres } from '../../src/db/embedded.ts'
import type { Log } from '../../src/db/log.ts'

function captureLog (): Log & { lines: string[] } {
  const lines: string[] = []
  return {
    lines,
    info: (m) => { lines.push(`info: ${m}`) },
    warn: (m) => { lines.push(`warn: ${m}`) },
    debug: (m) => { lines.push(`debug: ${m}`) }
  }
}

async function sql<T extends pg.QueryResultRow> (url: string, text: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: url })
  await client.connect()
  try {
    return (await client.query<T>(text)).rows
  } finally {
    await client.end()
  }
}

function listening (port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1')
    socket.once('connect', () => { socket.destroy(); resolve(true) })
    socket.once('error', () => { resolve(false) })
  })
}

async function tempDataDir (t: Test): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'gw-embedded-'))
  t.teardown(() => rm(dir, { recursive: true, force: true }))
  return dir
}

const root = t

// initdb is the slow part: tests that need an initialised cluster get a copy of one made once.
let template: Promise<string> | undefined

async function initialisedDataDir (t: Test): Promise<string> {
  template ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'gw-embedded-template-'))
    root.teardown(() => rm(dir, { recursive: true, force: true }))
    const server = await startEmbeddedPostgres({ dataDir: dir })
    await server.stop()
    return dir
  })()
  const source = await template
  const dir = await tempDataDir(t)
  // cp -a keeps owner and modes (as root the cluster belongs to the postgres user)
  await promisify(execFile)('cp', ['-a', `${source}/.`, dir])
  return dir
}

/** A separate process holding an embedded PostgreSQL, like a running gateway. */
async function holdEmbedded (dataDir: string, fixture = 'hold-embedded.ts') {
  const child = spawn(process.execPath, ['--import=tsx', join(import.meta.dirname, 'fixtures', fixture), dataDir], {
    stdio: ['pipe', 'pipe', 'inherit']
  })
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve))
  const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]()
  const first = await lines.next()
  const { port } = JSON.parse(String(first.value)) as { port: number }
  const rest = (async () => {
    const out: string[] = []
    for (let next = await lines.next(); next.done !== true; next = await lines.next()) out.push(String(next.value))
    return out
  })()
  return {
    port,
    stop: async () => { child.stdin.end('stop\n'); await exited },
    kill: async () => { child.kill('SIGKILL'); await exited },
    terminate: async () => {
      child.kill('SIGTERM')
      return { code: await exited, output: await rest }
    }
  }
}

t.test('initialises once, keeps the data between runs, stays quiet', async (t) => {
  const dataDir = await tempDataDir(t)
  const printed: string[] = []
  const write = process.stdout.write
  process.stdout.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
    printed.push(String(chunk))
    return (write as (...a: unknown[]) => boolean).call(process.stdout, chunk, ...rest)
  }) as typeof process.stdout.write
  const log = captureLog()
  let started = performance.now()
  const cold = await startEmbeddedPostgres({ dataDir, log })
  const coldMs = performance.now() - started
  process.stdout.write = write
  t.teardown(() => cold.stop())

  t.same(printed.filter((l) => /postgres|database system/i.test(l)), [], 'nothing from postgres on stdout')
  t.ok(log.lines.some((l) => l.startsWith('debug: postgres:')), 'postgres output goes to the debug log')
  t.match(log.lines.filter((l) => l.startsWith('info')), [/initialised and started on 127\.0\.0\.1:\d+ in \d+ ms/])
  t.match(cold.url, /^postgres:\/\/postgres:[^@]+@127\.0\.0\.1:\d+\/postgres$/)
  await sql(cold.url, 'CREATE TABLE kept (v text); INSERT INTO kept VALUES (\'still here\')')
  const { mode } = await stat(join(dataDir, 'pg-password'))
  t.equal(mode & 0o777, 0o600, 'the role password is private')
  await cold.stop()
  await cold.stop() // idempotent
  t.notOk(await listening(cold.port), 'stopped')

  started = performance.now()
  const warmLog = captureLog()
  const warm = await startEmbeddedPostgres({ dataDir, log: warmLog })
  const warmMs = performance.now() - started
  t.teardown(() => warm.stop())
  t.match(warmLog.lines.filter((l) => l.startsWith('info')), [/ started on/], 'no second initdb')
  t.same(await sql(warm.url, 'SELECT v FROM kept'), [{ v: 'still here' }], 'data persisted')
  t.comment(`embedded PostgreSQL: cold start ${Math.round(coldMs)} ms, warm start ${Math.round(warmMs)} ms`)
})

t.test('EMBEDDED_PG_PORT: a fixed port is used as given', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const probe = await startEmbeddedPostgres({ dataDir })
  const port = probe.port // known free a moment ago
  await probe.stop()
  const fixed = await startEmbeddedPostgres({ dataDir, port })
  t.teardown(() => fixed.stop())
  t.equal(fixed.port, port)
  t.ok(await listening(port))
})

t.test('a stale postmaster.pid left by a crash does not prevent the start', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const pidFile = join(dataDir, 'pg', 'postmaster.pid')
  // A PID that is dead, then one that is alive but not postgres (PID reuse in containers).
  for (const pid of [2 ** 22 + 12345, process.pid]) {
    await writeFile(pidFile, `${pid}\n${join(dataDir, 'pg')}\n1700000000\n5432\n\n127.0.0.1\n  1234   5678\nready\n`)
    const log = captureLog()
    const again = await startEmbeddedPostgres({ dataDir, log })
    t.ok(log.lines.some((l) => /warn: removing a stale postmaster\.pid/.test(l)), `PID ${pid}: warned`)
    t.same(await sql(again.url, 'SELECT 1 AS one'), [{ one: 1 }])
    await again.stop()
  }
})

t.test('a postgres orphaned by a killed gateway is stopped and the start goes on', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const gateway = await holdEmbedded(dataDir)
  const orphanPort = gateway.port
  await gateway.kill() // SIGKILL: no chance to stop postgres
  t.ok(await listening(orphanPort), 'the orphan still runs')
  const log = captureLog()
  const next = await startEmbeddedPostgres({ dataDir, log })
  t.teardown(() => next.stop())
  t.ok(log.lines.some((l) => /warn: stopping an embedded PostgreSQL .* orphaned/.test(l)))
  t.notOk(await listening(orphanPort), 'the orphan is gone')
  t.same(await sql(next.url, 'SELECT 1 AS one'), [{ one: 1 }])
})

t.test('a DATA_DIR in use by a running gateway is refused, not taken over', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const gateway = await holdEmbedded(dataDir)
  t.teardown(() => gateway.stop())
  await t.rejects(startEmbeddedPostgres({ dataDir }), /in use by another running gateway/)
  t.ok(await listening(gateway.port), 'the running one is untouched')
})

t.test('a missing password file for an existing cluster is a clear error', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const password = await readFile(join(dataDir, 'pg-password'), 'utf8')
  await rm(join(dataDir, 'pg-password'))
  await t.rejects(startEmbeddedPostgres({ dataDir }), /has no .*pg-password/)
  await writeFile(join(dataDir, 'pg-password'), password, { mode: 0o600 })
  const back = await startEmbeddedPostgres({ dataDir })
  await back.stop()
})

t.test('SIGTERM: a CLI or test process stops its cluster on the way out', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const cli = await holdEmbedded(dataDir)
  t.ok(await listening(cli.port))
  await cli.terminate()
  t.notOk(await listening(cli.port), 'no orphan left behind')
})

t.test('SIGTERM: in the gateway the server\'s graceful close runs, and onClose stops the cluster', async (t) => {
  const dataDir = await initialisedDataDir(t)
  const gateway = await holdEmbedded(dataDir, 'hold-app.ts')
  t.ok(await listening(gateway.port))
  const { code, output } = await gateway.terminate()
  t.equal(code, 0, 'exited by its own handler')
  t.same(output, ['closed gracefully'], 'the graceful close was not cut short')
  t.notOk(await listening(gateway.port), 'and the cluster is stopped')
})
