// The gateway as a user runs it (`npm start`): a child process, its output collected, its
// address read from the "Server listening at" line.
import { spawn } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Test } from 'tap'
import { request } from 'undici'
import { testDatabase } from './database.ts'

const START = ['--import=tsx', '--import=./src/telemetry.ts', 'src/server.ts']
/** `npm start` itself: the compiled build, rebuilt first when src/ changed. */
const NPM_START = ['start', '--silent']

export interface RunningGateway {
  out: string
  err: string
  exit: Promise<number | null>
  url: Promise<string>
  kill: (signal: NodeJS.Signals) => void
}

export function startGateway (env: Record<string, string>, how: 'tsx' | 'npm start' = 'tsx'): RunningGateway {
  const [command, args] = how === 'tsx' ? [process.execPath, START] : ['npm', NPM_START]
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const r: RunningGateway = {
    out: '',
    err: '',
    exit: new Promise(resolve => child.on('exit', code => resolve(code))),
    url: new Promise((resolve, reject) => {
      let listening = false
      child.stdout.on('data', (chunk: Buffer) => {
        r.out += chunk.toString()
        // searched until found: a busy gateway logs megabytes, the test process must stay cheap
        if (listening) return
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.out)
        if (m) {
          listening = true
          resolve(m[1]!)
        }
      })
      child.on('exit', () => reject(new Error(`exited before listening: ${r.err}${r.out}`)))
    }),
    kill: (signal) => child.kill(signal)
  }
  child.stderr.on('data', (chunk: Buffer) => { r.err += chunk.toString() })
  r.url.catch(() => {}) // a run that is meant to fail never listens
  return r
}

/**
 * The environment of a gateway process under test: its own fresh database (DATABASE_URL), an
 * admin token, no first-run tenant, no load shedding. `extra` adds or overrides settings.
 */
export async function gatewayEnv (t: Test, upstreamUrl: string, extra: Record<string, string> = {}): Promise<{ env: Record<string, string>, adminToken: string }> {
  const adminToken = 'admin-' + randomBytes(12).toString('hex')
  // archived export files land in a folder of the test's own, removed with it
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-test-data-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const env = {
    DATA_DIR: dataDir,
    DATABASE_URL: await testDatabase(t),
    NEMO_BASE_URL: upstreamUrl,
    ENCRYPTION_KEY: randomBytes(32).toString('hex'),
    ADMIN_TOKEN: adminToken,
    PORT: '0',
    LOG_LEVEL: 'info',
    FIRST_RUN_TENANT: 'false',
    MAX_EVENT_LOOP_DELAY_MS: '0',
    RATE_LIMIT_MAX: '100000',
    ...extra
  }
  return { env, adminToken }
}

export type JsonCall = (method: 'GET' | 'POST', path: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number, json: any }>

/** JSON over HTTP to a running gateway; `base` is read at each call (a restarted one moves). */
export function jsonClient (base: () => string): JsonCall {
  return async (method, path, body, headers = {}) => {
    const res = await request(`${base()}${path}`, { method, headers: { 'content-type': 'application/json', ...headers }, body: body === undefined ? undefined : JSON.stringify(body) })
    const text = await res.body.text()
    return { status: res.statusCode, json: text === '' ? null : JSON.parse(text) }
  }
}

/** A tenant with one API key, made through the admin API; `as` holds a user's headers. */
export async function adminTenant (call: JsonCall, adminToken: string, name = 'acme', user = 'alice'): Promise<{ id: string, key: string, as: Record<string, string> }> {
  const admin = { authorization: `Bearer ${adminToken}` }
  const tenant = (await call('POST', '/admin/v1/tenants', { name }, admin)).json
  const key = (await call('POST', `/admin/v1/tenants/${tenant.id}/keys`, { name: 'k' }, admin)).json.key as string
  return { id: tenant.id as string, key, as: { authorization: `Bearer ${key}`, 'x-user-id': user } }
}
