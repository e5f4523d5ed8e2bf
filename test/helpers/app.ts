// Builds the real gateway for a test: a fresh database, a real simulator process-in-process
// on a real port, the real app on top. Logs are captured, and at teardown the test fails if
// any secret the test handled (API keys, upstream tokens, the admin token) reached them.
import type { Test } from 'tap'
import { randomBytes } from 'node:crypto'
import { Writable } from 'node:stream'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import Fastify, { type FastifyInstance, type InjectOptions, type LightMyRequestResponse } from 'fastify'
import app from '../../src/app.ts'
import { buildConfig, type Config } from '../../src/config.ts'
import { serverOptions } from '../../src/options.ts'
import { decrypt } from '../../src/db/crypto.ts'
import { testDatabase } from './database.ts'
import { startSimulator, type RunningSimulator } from './simulator.ts'
import { loadContract, type Contract } from './contract.ts'

export const ADMIN_TOKEN = 'test-admin-token-' + randomBytes(8).toString('hex')

export interface TestGateway {
  app: FastifyInstance
  sim: RunningSimulator
  config: Config
  logs: string[]
  /** Registers a value that must never appear in the logs. */
  secret: (value: string) => void
  admin: (opts: InjectOptions) => Promise<LightMyRequestResponse>
  /** Creates a tenant with one API key through the admin API. */
  tenant: (name: string, opts?: { tokenMode?: 'anonymous' | 'registered' }) => Promise<TestTenant>
  /** The document's validator when built with `contract: true`. */
  contract?: Contract
}

export interface TestTenant {
  id: string
  key: string
  /** A request as this tenant's end user `userId`. */
  as: (userId: string, opts: InjectOptions) => Promise<LightMyRequestResponse>
}

export interface GatewayOptions {
  config?: Partial<Record<keyof Config, string | number | boolean>>
  sim?: Record<string, unknown>
  databaseUrl?: string
  /**
   * Check every answer `app.inject` gives against the published OpenAPI document (status,
   * content type, body schema): a mismatch fails the test. See helpers/contract.ts.
   */
  contract?: boolean
  /** Fastify options over the gateway's own (src/options.ts). */
  server?: ReturnType<typeof serverOptions>
}

export async function buildGateway (t: Test, opts: GatewayOptions = {}): Promise<TestGateway> {
  const databaseUrl = opts.databaseUrl ?? await testDatabase(t)
  // archived export files land in a folder of the test's own, removed with it
  const dataDir = opts.config?.DATA_DIR === undefined ? await mkdtemp(join(tmpdir(), 'gw-test-data-')) : undefined
  if (dataDir !== undefined) t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const sim = await startSimulator(t, { mintLimitPerIp: 1000, ...opts.sim })
  const encryptionKey = String(opts.config?.ENCRYPTION_KEY ?? randomBytes(32).toString('hex'))
  const config = buildConfig({
    DATABASE_URL: databaseUrl,
    NEMO_BASE_URL: sim.url,
    ENCRYPTION_KEY: encryptionKey,
    ADMIN_TOKEN,
    LOG_LEVEL: 'trace',
    MINT_LIMIT_PER_IP: 1000,
    FIRST_RUN_TENANT: false,
    // a test machine running two suites at once lags; load shedding is not under test here
    MAX_EVENT_LOOP_DELAY_MS: 0,
    ...(dataDir === undefined ? {} : { DATA_DIR: dataDir }),
    ...opts.config
  })
  const logs: string[] = []
  const secrets = new Set<string>([ADMIN_TOKEN, encryptionKey])
  const stream = new Writable({ write (chunk, _enc, cb) { logs.push(String(chunk)); cb() } })
  const fastify = Fastify({ ...serverOptions(config, opts.server), logger: { ...(serverOptions(config).logger as object), stream } })
  await fastify.register(app, { config })
  await fastify.ready()
  const contract = opts.contract === true ? checkAnswers(t, fastify) : undefined

  t.teardown(async () => {
    // every upstream token the gateway holds counts as a secret too
    const creds = await fastify.prisma.credential.findMany({ select: { tokenCiphertext: true } }).catch(() => [])
    for (const c of creds) {
      try { secrets.add(decrypt(Buffer.from(encryptionKey, 'hex'), c.tokenCiphertext)) } catch {}
    }
    await fastify.close()
    const text = logs.join('')
    const leaked = [...secrets].filter(s => s.length > 0 && text.includes(s))
    // assertions are not allowed after a test ends: a leak fails the test by throwing
    if (leaked.length > 0) throw new Error(`secrets reached the logs: ${leaked.map(s => s.slice(0, 8) + '...').join(', ')}`)
  })

  const admin = async (o: InjectOptions) => await fastify.inject({
    ...o,
    headers: { authorization: `Bearer ${ADMIN_TOKEN}`, ...o.headers }
  })

  const tenant = async (name: string, o: { tokenMode?: 'anonymous' | 'registered' } = {}): Promise<TestTenant> => {
    const created = await admin({ method: 'POST', url: '/admin/v1/tenants', payload: { name, ...o } })
    if (created.statusCode !== 201) throw new Error(`tenant create failed: ${created.body}`)
    const id = created.json().id as string
    const issued = await admin({ method: 'POST', url: `/admin/v1/tenants/${id}/keys`, payload: { name: 'test' } })
    if (issued.statusCode !== 201) throw new Error(`key issue failed: ${issued.body}`)
    const key = issued.json().key as string
    secrets.add(key)
    return {
      id,
      key,
      as: async (userId, r) => await fastify.inject({
        ...r,
        headers: { authorization: `Bearer ${key}`, 'x-user-id': userId, ...r.headers }
      })
    }
  }

  return { app: fastify, sim, config, logs, secret: (s) => secrets.add(s), admin, tenant, ...(contract ? { contract } : {}) }
}

/** Every answer of `fastify.inject` (the promise form) is checked against the document. */
function checkAnswers (t: Test, fastify: FastifyInstance): Contract {
  const contract = loadContract()
  const inject = fastify.inject.bind(fastify)
  const checked = (async (o: InjectOptions | string) => {
    const res = await inject(o)
    const opts = typeof o === 'string' ? { url: o } : o
    const url = typeof opts.url === 'string' ? opts.url : String(opts.path ?? '')
    for (const mismatch of contract.check(String(opts.method ?? 'GET'), url, { statusCode: res.statusCode, headers: res.headers, body: res.body })) {
      t.fail(`contract: ${mismatch}`, { diagnostic: true, body: res.body.slice(0, 300) })
    }
    return res
  }) as unknown as FastifyInstance['inject']
  fastify.inject = ((o?: InjectOptions | string, cb?: unknown) => o === undefined || cb !== undefined
    ? (inject as (...a: unknown[]) => unknown)(o, cb)
    : checked(o)) as FastifyInstance['inject']
  return contract
}
