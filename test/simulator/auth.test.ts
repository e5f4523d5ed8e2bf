import t from 'tap'
import { startSim } from './helper.ts'

t.test('anonymous token: compact envelope, formats, 100 credits, mint counted', async (t) => {
  const sim = await startSim(t)
  const res = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'client-$(date)-123' } })
  t.equal(res.status, 200)
  t.notOk(/\s/.test(res.raw.replace(/"[^"]*"/g, '')), 'compact JSON')
  t.match(res.raw, /"token":"nmv_usr_[A-Za-z0-9_-]{40}"/, 'greppable token')
  t.equal(res.body.code, 0)
  t.match(res.body.data.user_id, /^anon_[0-9a-f]{16}$/)
  t.equal(res.body.data.credits, 100)
  const ttl = Date.parse(res.body.data.expires_at) - Date.now()
  t.ok(ttl > 6.9 * 86400e3 && ttl <= 7 * 86400e3, 'expires in 7 days')
  t.equal((await sim.counters()).mints, 1)

  const balance = await sim.call('GET', '/api/credits/balance/simple', { token: res.body.data.token })
  t.same(balance.body, { code: 0, message: 'success', data: { available: 100, frozen: 0, total: 100 } })
})

t.test('X-Client-Id missing or longer than 64 chars -> HTTP 400', async (t) => {
  const sim = await startSim(t)
  const missing = await sim.call('POST', '/api/auth/anonymous-token')
  t.equal(missing.status, 400)
  t.same(missing.body, { code: 400, message: 'X-Client-Id header required', data: null })
  const long = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'x'.repeat(65) } })
  t.equal(long.status, 400)
  const max = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'x'.repeat(64) } })
  t.equal(max.status, 200)
})

t.test('per-client limit: 429 with Retry-After, re-mint allowed once the token expired', async (t) => {
  const sim = await startSim(t, { tokenTtlMs: 150 })
  const first = await sim.anon('same-client')
  const again = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'same-client' } })
  t.equal(again.status, 429)
  t.equal(again.body.code, 429)
  t.ok(Number(again.headers['retry-after']) >= 1, 'Retry-After in seconds')
  await new Promise((resolve) => setTimeout(resolve, 200))
  const expired = await sim.call('GET', '/api/credits/balance/simple', { token: first.token })
  t.same(expired.body, { code: 1001, message: 'token has expired', data: null })
  const second = await sim.anon('same-client')
  t.not(second.token, first.token)
  t.equal((await sim.counters()).mints, 2)
})

t.test('per-IP limit: 429 once the IP minted mintLimitPerIp tokens in the window', async (t) => {
  const sim = await startSim(t, { mintLimitPerIp: 3 })
  for (const id of ['a', 'b', 'c']) await sim.anon('ip-' + id)
  const res = await sim.call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': 'ip-d' } })
  t.equal(res.status, 429)
  t.match(res.body.message, /IP/)
  t.ok(Number(res.headers['retry-after']) > 3600, 'window is days long')
  t.equal((await sim.counters()).mints, 3)
})

t.test('bad tokens -> code 1001 with contract messages and configurable HTTP status', async (t) => {
  const sim = await startSim(t)
  const path = '/api/credits/balance/simple'
  const missing = await sim.call('GET', path)
  t.equal(missing.status, 401)
  t.same(missing.body, { code: 1001, message: 'missing authentication token', data: null })
  t.equal((await sim.call('GET', path, { token: 'nmv_usr_nope' })).body.message, 'invalid token')

  const revoked = await sim.anon()
  t.same((await sim.call('POST', '/__sim/tokens/revoke', { body: { token: revoked.token } })).body, { ok: true })
  t.equal((await sim.call('GET', path, { token: revoked.token })).body.message, 'token has been revoked')

  const expired = await sim.registered()
  await sim.call('POST', '/__sim/tokens/expire', { body: { token: expired.token } })
  t.equal((await sim.call('GET', path, { token: expired.token })).body.message, 'token has expired')
  t.equal((await sim.call('POST', '/__sim/tokens/expire', { body: { token: 'nope' } })).status, 404)

  await sim.call('POST', '/__sim/config', { body: { authErrorStatus: 200 } })
  const asBody = await sim.call('GET', path, { token: expired.token })
  t.equal(asBody.status, 200)
  t.equal(asBody.body.code, 1001)
})

t.test('registered test tokens and the claim token', async (t) => {
  const sim = await startSim(t)
  const reg = await sim.registered(5000)
  t.match(reg.token, /^nmv_usr_[A-Za-z0-9_-]{40}$/)
  t.match(reg.user_id, /^user_[0-9a-f]{16}$/)
  t.equal((await sim.call('GET', '/api/credits/balance/simple', { token: reg.token })).body.data.available, 5000)

  const created = await sim.call('POST', '/api/tasks/me/with-session/nemo_agent', { token: reg.token, body: { task_name: 'project' } })
  const { task_id: taskId, session_id: sessionId } = created.body.data
  const claim = await sim.call('POST', '/api/auth/claim-token', { token: reg.token, body: { task_id: taskId, session_id: sessionId } })
  t.match(claim.body, { code: 0, data: { claim_token: /^clm_/, expires_in: 604800 } })
  const unknown = await sim.call('POST', '/api/auth/claim-token', { token: reg.token, body: { task_id: taskId, session_id: '1' } })
  t.equal(unknown.body.code, 1002)
  const bad = await sim.call('POST', '/api/auth/claim-token', { token: reg.token, body: {} })
  t.equal(bad.status, 400)
  t.equal((await sim.call('POST', '/api/auth/claim-token', { body: {} })).body.code, 1001)
})
