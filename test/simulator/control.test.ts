import t from 'tap'
import { request } from 'undici'
import { startSim } from './helper.ts'

t.test('faults: code envelope, status/body/headers, count, delay, socket destroy', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const credits = () => sim.call('GET', '/api/credits/balance/simple', { token })

  t.same((await sim.call('POST', '/__sim/faults', { body: { endpoint: 'credits', code: 1001, message: 'token has expired', count: 2 } })).body, { ok: true })
  for (let i = 0; i < 2; i++) {
    const res = await credits()
    t.equal(res.status, 200)
    t.same(res.body, { code: 1001, message: 'token has expired', data: null })
  }
  t.equal((await credits()).body.code, 0, 'count used up')

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'anonymous-token', status: 503, body: { detail: 'busy' }, headers: { 'retry-after': '3' } } })
  const busy = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'f1' } })
  t.equal(busy.status, 503)
  t.same(busy.body, { detail: 'busy' })
  t.equal(busy.headers['retry-after'], '3')

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'render-poll', status: 502 } })
  const bad = await sim.call('GET', '/api/render/proxy/lambda/x', { token })
  t.same(bad, { ...bad, status: 502, body: { success: false, error: 'Bad Gateway' } }, 'render endpoints fail in their own envelope')

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'state', delayMs: 120 } })
  const started = Date.now()
  const slow = await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })
  t.ok(Date.now() - started >= 100, 'delay only, then the normal answer')
  t.equal(slow.body.code, 0)

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'run-sse', destroy: true } })
  const dropped = await sim.sse(token, sid, 'hi').then(() => 'answered', (err: Error) => err.message)
  t.match(dropped, /socket hang up|ECONNRESET/)
  t.equal((await sim.sse(token, sid, 'hi')).status, 200)

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'download', status: 404, message: 'gone' } })
  t.same((await sim.call('GET', '/api/render/proxy/x/download', { token })).body, { success: false, error: 'gone' })

  t.equal((await sim.call('POST', '/__sim/faults', { body: { endpoint: 'nope' } })).status, 400)
  t.equal((await sim.call('POST', '/__sim/faults', { body: { endpoint: 'credits', surprise: 1 } })).status, 400)
})

t.test('counters, config and reset', async (t) => {
  const sim = await startSim(t, { seed: 5 })
  const { token } = await sim.anon('c1')
  await sim.call('GET', '/api/credits/balance/simple', { token })
  await sim.call('GET', '/api/credits/balance/simple')
  const counters = await sim.counters()
  t.match(counters, { requests: { 'anonymous-token': 1, credits: 2, 'run-sse': 0 }, openStreams: 0, abortedUploads: 0, completedUploads: 0, mints: 1 })
  t.same(Object.keys(counters.requests).sort(), [
    'anonymous-token', 'claim-token', 'create-session', 'credits', 'download', 'render-cancel', 'render-poll',
    'render-result', 'render-submit', 'run-sse', 'state', 'upload'
  ])

  const cfg = await sim.call('POST', '/__sim/config', { body: { latencyMs: 80, pollShape: 'both' } })
  t.match(cfg.body, { seed: 5, latencyMs: 80, pollShape: 'both', framing: 'adk' })
  t.equal((await sim.call('POST', '/__sim/config', { body: { framing: 'xml' } })).status, 400)
  t.equal((await sim.call('POST', '/__sim/config', { body: { renderFailureRate: 2 } })).status, 400)
  t.equal((await sim.call('POST', '/__sim/config', { body: { scenario: 'nope' } })).status, 400)
  const started = Date.now()
  await sim.call('GET', '/api/credits/balance/simple', { token })
  t.ok(Date.now() - started >= 70, 'latency added')

  await sim.call('POST', '/__sim/faults', { body: { endpoint: 'credits', code: 9 } })
  t.same((await sim.call('POST', '/__sim/reset')).body, { ok: true })
  t.match(await sim.counters(), { requests: { credits: 0 }, mints: 0 })
  t.match((await sim.call('GET', '/__sim/config')).body, { latencyMs: 0, pollShape: 'A', seed: 5 })
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token })).body.code, 1001, 'tokens are forgotten')
  const again = await sim.anon('c1')
  t.equal(again.token, token, 'same seed after reset, same ids')
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token: again.token })).body.code, 0, 'faults cleared')
})

t.test('a seed change through config changes the generated ids', async (t) => {
  const sim = await startSim(t, { seed: 1 })
  await sim.call('POST', '/__sim/config', { body: { seed: 2 } })
  const a = await sim.anon('s1')
  await sim.call('POST', '/__sim/reset')
  const b = await sim.anon('s1')
  t.not(a.token, b.token)
})

t.test('app.close() ends open streams instead of waiting for them', async (t) => {
  const { buildSimulator } = await import('../../src/simulator/app.ts')
  const app = await buildSimulator({ generationMs: 60000, heartbeatIntervalMs: 10, stepDelayMs: 1 })
  await app.listen({ port: 0, host: '127.0.0.1' })
  const base = `http://127.0.0.1:${(app.server.address() as { port: number }).port}`
  const tok = await (await request(`${base}/__sim/tokens`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).body.json() as { token: string }
  const auth = { authorization: `Bearer ${tok.token}`, 'content-type': 'application/json' }
  const ses = await (await request(`${base}/api/tasks/me/with-session/nemo_agent`, { method: 'POST', headers: auth, body: '{}' })).body.json() as any
  const res = await request(`${base}/run_sse`, {
    method: 'POST', headers: auth, body: JSON.stringify({ user_id: 'me', session_id: ses.data.session_id, new_message: { parts: [{ text: '[scenario:heartbeat-only]' }] } })
  })
  t.equal(res.statusCode, 200)
  const started = Date.now()
  await app.close()
  t.ok(Date.now() - started < 2000, 'closed promptly')
  await res.body.text().catch(() => {})
})
