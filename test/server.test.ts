// The process as a user runs it (`npm start`): a wrong config stops it with a message that
// names the variable; with no configuration at all it starts an embedded database, prints
// one first-run API key, answers ready, closes gracefully, and starts again warm.
import t from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { request } from 'undici'
import { startGateway as start } from './helpers/process.ts'

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
  const cold = start(env)
  const url = await cold.url
  const ready = await request(`${url}/health/ready`)
  t.equal(ready.statusCode, 200)
  await ready.body.dump()
  const coldMs = Date.now() - began
  t.comment(`cold start to ready: ${coldMs} ms`)
  const key = /(ngw_[a-z0-9]{16}_[A-Za-z0-9_-]{43})/.exec(cold.out)?.[1]
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
  const warm = start(env)
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
