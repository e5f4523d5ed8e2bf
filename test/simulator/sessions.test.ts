import t from 'tap'
import { startSim } from './helper.ts'

t.test('create session: 19-digit id, task id, language optional', async (t) => {
  const sim = await startSim(t)
  const { token, user_id: userId } = await sim.anon()
  const res = await sim.call('POST', '/api/tasks/me/with-session/nemo_agent', { token, body: { task_name: 'project' } })
  t.equal(res.body.code, 0)
  t.match(res.body.data, { task_id: /^task_[0-9a-f]+$/, session_id: /^[1-9]\d{18}$/, user_id: userId })
  const noBody = await sim.call('POST', '/api/tasks/me/with-session/nemo_agent', { token, headers: { 'content-type': 'application/json' } })
  t.equal(noBody.body.code, 0, 'empty JSON body accepted')
  const bad = await sim.call('POST', '/api/tasks/me/with-session/nemo_agent', { token, headers: { 'content-type': 'application/json' } })
  t.not(bad.body.data.session_id, noBody.body.data.session_id)
})

t.test('state: contract §3.7 shape, 1002 for unknown, foreign and forgotten sessions', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const state = await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })
  t.equal(state.body.code, 0)
  t.match(state.body.data, {
    session_id: sid,
    task_id: /^task_/,
    task_name: 'project',
    state: { video_infos: [], draft: { t: [], d: 0, m: { width: 1920, height: 1080 } }, canvas_config: {}, video_analyses: {}, generated_media: [] }
  })

  t.same((await sim.call('GET', '/api/state/nemo_agent/me/1234567890123456789/latest', { token })).body,
    { code: 1002, message: 'session not found', data: null })
  const other = await sim.anon()
  t.equal((await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token: other.token })).body.code, 1002, 'sessions are per user')

  t.same((await sim.call('POST', '/__sim/sessions/forget', { body: { session_id: sid } })).body, { ok: true })
  t.equal((await sim.call('GET', `/api/state/nemo_agent/me/${sid}/latest`, { token })).body.code, 1002)
  t.equal((await sim.call('POST', '/__sim/sessions/forget', { body: { session_id: sid } })).status, 404)
})

t.test('credits can be set through the control API', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const set = await sim.call('PUT', '/__sim/credits', { body: { token, available: 7 } })
  t.same(set.body, { available: 7, frozen: 0, total: 7 })
  t.same((await sim.call('GET', '/api/credits/balance/simple', { token })).body.data, { available: 7, frozen: 0, total: 7 })
  t.equal((await sim.call('PUT', '/__sim/credits', { body: { token: 'x', available: 1 } })).status, 404)
})

t.test('unknown routes answer like FastAPI', async (t) => {
  const sim = await startSim(t)
  const res = await sim.call('GET', '/api/nope')
  t.equal(res.status, 404)
  t.same(res.body, { detail: 'Not Found' })
})
