// The process as a user runs it (`npm start`, the compiled build): a wrong config stops it with a message that
// names the variable; with no configuration at all it starts an embedded database, prints
// one first-run API key, answers ready, closes gracefully, and starts again warm.
import t, { type Test } from 'tap'
import { spawnSync } from 'node:child_process'
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { once } from 'node:events'
import { createServer, type AddressInfo } from 'node:net'
import { request } from 'undici'
import { startGateway as start } from './helpers/process.ts'
import { startSimulator } from './helpers/simulator.ts'
import { waitFor } from './helpers/sse.ts'

t.test('a wrong value stops the process at boot, naming the variable', async (t) => {
  const r = start({ PORT: 'eighty' })
  t.equal(await r.exit, 1)
  t.match(r.err, /PORT/)
  t.notMatch(r.err, /\s+at .+:\d+:\d+/, 'a message, not a stack trace')
})

t.test('zero setup: embedded database, first-run key, ready, graceful close, warm restart', { timeout: 240_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-start-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const env = { DATA_DIR: dataDir, PORT: '0', NEMO_BASE_URL: 'http://127.0.0.1:9' }

  let began = Date.now()
  const cold = start(env, 'npm start')
  const url = await cold.url
  const ready = await request(`${url}/health/ready`)
  t.equal(ready.statusCode, 200)
  await ready.body.dump()
  const coldMs = Date.now() - began
  t.comment(`cold start to ready: ${coldMs} ms`)
  const key = await waitForKey(cold)
  t.ok(key, 'the first-run API key is printed once')
  t.match(cold.out, /curl -H "Authorization: Bearer ngw_/)
  const logLines = cold.out.split('\n').filter(l => l.startsWith('{'))
  t.notOk(logLines.some(l => l.includes(key!)), 'the key is never in a log line')
  const sessions = await request(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' } })
  t.equal(sessions.statusCode, 200, 'the printed key works')
  await sessions.body.dump()
  cold.kill('SIGTERM')
  t.equal(await cold.exit, 0, 'a graceful close')

  began = Date.now()
  const warm = start(env, 'npm start')
  const url2 = await warm.url
  const ready2 = await request(`${url2}/health/ready`)
  t.equal(ready2.statusCode, 200)
  await ready2.body.dump()
  t.comment(`warm start to ready: ${Date.now() - began} ms`)
  t.notMatch(warm.out, /First run/, 'no second key on a warm start')
  t.match(warm.out + warm.err, /up to date|no pending|nothing to apply/i, 'no migration applied twice')
  const again = await request(`${url2}/v1/sessions`, { headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' } })
  t.equal(again.statusCode, 200, 'the data survived the restart')
  await again.body.dump()
  warm.kill('SIGINT')
  t.equal(await warm.exit, 0)
})

const isRoot = process.getuid?.() === 0

t.test('as root, a DATA_DIR under a directory the postgres user cannot enter still starts', { skip: isRoot ? false : 'needs root (the embedded database runs as the OS user postgres only then)', timeout: 120_000 }, async (t) => {
  const home = await mkdtemp(join(tmpdir(), 'ngw-home-'))
  await chmod(home, 0o700)
  const dataDir = join(home, 'data')
  t.teardown(async () => {
    const recorded = await readFile(join(dataDir, 'pg-location'), 'utf8').catch(() => undefined)
    if (recorded !== undefined) await rm(dirname(recorded.trim()), { recursive: true, force: true })
    await rm(home, { recursive: true, force: true })
  })
  const env = { DATA_DIR: dataDir, PORT: '0', NEMO_BASE_URL: 'http://127.0.0.1:9' }
  const first = start(env)
  const url = await first.url
  const ready = await request(`${url}/health/ready`)
  t.equal(ready.statusCode, 200, 'ready')
  await ready.body.dump()
  const placed = (await readFile(join(dataDir, 'pg-location'), 'utf8')).trim()
  t.match(placed, /^\/var\/lib\/nemo-gateway\/[0-9a-f]{16}\/pg$/, 'the cluster is placed where postgres can reach it, and recorded')
  t.match(first.out, /cannot enter .*ngw-home-.*lives in \/var\/lib\/nemo-gateway/, 'the log says where and why')
  await waitForKey(first)
  t.match(first.out, /First run/)
  first.kill('SIGTERM')
  t.equal(await first.exit, 0)

  const again = start(env)
  await again.url
  t.notMatch(again.out, /First run/, 'the next start finds the same database')
  again.kill('SIGTERM')
  t.equal(await again.exit, 0)
})

async function mountTmpfs (t: Test, options: string): Promise<string | undefined> {
  const dir = await mkdtemp(join(tmpdir(), 'ngw-mnt-'))
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', options, 'tmpfs', dir]).status === 0
  t.teardown(async () => {
    if (mounted) spawnSync('umount', [dir])
    await rm(dir, { recursive: true, force: true })
  })
  return mounted ? dir : undefined
}

for (const [name, options, fill] of [['a read-only file system', 'ro,size=1m', false], ['a full disk', 'size=256k', true]] as const) {
  t.test(`a DATA_DIR on ${name} stops the start with one line that names the fix`, { skip: isRoot ? false : 'needs root to mount a tmpfs' }, async (t) => {
    const dir = await mountTmpfs(t, options)
    if (dir === undefined) { t.comment('skipped: mount is not permitted here'); return }
    if (fill) spawnSync('sh', ['-c', `dd if=/dev/zero of=${dir}/filler bs=4k 2>/dev/null; true`])
    const r = start({ DATA_DIR: dir, PORT: '0', NEMO_BASE_URL: 'http://127.0.0.1:9' })
    t.equal(await r.exit, 1)
    const line = r.err.split('\n').find((l) => l.startsWith('nemo-gateway could not start'))
    t.match(line, /DATA_DIR .* (read-only file system|full disk) .*Point DATA_DIR at a writable directory/, String(line))
    t.notMatch(r.err, /\s+at .+:\d+:\d+/, 'no stack trace')
  })
}

t.test('NEMO_TOKEN: the first run puts the team\'s upstream token in the default tenant\'s pool; no mint, no admin step', { timeout: 120_000 }, async (t) => {
  const token = 'nmv_dev_' + 'x'.repeat(24)
  const sim = await startSimulator(t, { devToken: token })
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-token-'))
  t.teardown(async () => { await rm(dataDir, { recursive: true, force: true }) })
  const gw = start({ DATA_DIR: dataDir, PORT: '0', NEMO_BASE_URL: sim.url, NEMO_TOKEN: token, LOG_LEVEL: 'debug' })
  const url = await gw.url
  const key = await waitForKey(gw)
  await waitFor(async () => gw.out, (out) => out.includes('NEMO_TOKEN: the default tenant uses your upstream token'))
  const credits = await request(`${url}/v1/credits`, { headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' } })
  const body = await credits.body.json() as { available: number }
  t.equal(credits.statusCode, 200, JSON.stringify(body))
  t.equal(body.available, 10000, 'the balance of the team\'s token')
  t.equal((await sim.counters()).mints, 0, 'nothing was minted')
  gw.kill('SIGTERM')
  t.equal(await gw.exit, 0)
  t.notOk((gw.out + gw.err).includes(token), 'the token is never printed or logged')

  const again = start({ DATA_DIR: dataDir, PORT: '0', NEMO_BASE_URL: sim.url, NEMO_TOKEN: token })
  await again.url
  await new Promise((resolve) => setTimeout(resolve, 500))
  t.notMatch(again.out, /NEMO_TOKEN/, 'taken once; a restart says nothing more')
  again.kill('SIGTERM')
  await again.exit
})

t.test('a first start that cannot listen creates no key; the next start prints it; a default tenant without a usable key says how to issue one', { timeout: 120_000 }, async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'ngw-port-'))
  const blocker = createServer().listen(0, '127.0.0.1')
  await once(blocker, 'listening')
  t.teardown(async () => {
    blocker.close()
    await rm(dataDir, { recursive: true, force: true })
  })
  const taken = String((blocker.address() as AddressInfo).port)
  const env = { DATA_DIR: dataDir, NEMO_BASE_URL: 'http://127.0.0.1:9' }
  const failed = start({ ...env, PORT: taken })
  t.equal(await failed.exit, 1)
  t.match(failed.err, /nemo-gateway could not start: .*EADDRINUSE/)
  t.notMatch(failed.out, /ngw_/, 'no key printed by a start that failed')

  const next = start({ ...env, PORT: '0' })
  const url = await next.url
  const key = await waitForKey(next)
  const list = await request(`${url}/v1/sessions`, { headers: { authorization: `Bearer ${key}`, 'x-user-id': 'a' } })
  t.equal(list.statusCode, 200, 'the key printed by the next start works')
  await list.body.dump()
  next.kill('SIGTERM')
  await next.exit

  // revoke that key with the CLI, by its keyId: the next start says how to get a new one
  const keyId = /^ngw_([a-z0-9]{16})_/.exec(key)![1]!
  const cli = spawnSync(process.execPath, ['--import=tsx', 'src/cli/admin.ts', 'keys', 'revoke', keyId], { env: { ...process.env, ...env, DATABASE_URL: '' }, encoding: 'utf8' })
  t.equal(cli.status, 0, cli.stderr)
  const third = start({ ...env, PORT: '0' })
  await third.url
  await waitFor(async () => third.out, (out) => out.includes('npm run admin -- keys issue default'))
  t.pass('says how to issue a key')
  third.kill('SIGTERM')
  await third.exit
})

async function waitForKey (gw: ReturnType<typeof start>): Promise<string> {
  const out = await waitFor(async () => gw.out, (o) => /ngw_[a-z0-9]{16}_[A-Za-z0-9_-]{43}/.test(o))
  return /(ngw_[a-z0-9]{16}_[A-Za-z0-9_-]{43})/.exec(out)![1]!
}
