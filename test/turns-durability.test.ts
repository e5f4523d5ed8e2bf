// Chat turns survive their gateway: a process killed with SIGKILL mid-turn leaves no session
// blocked. The restarted gateway closes the turn (failed, reason "interrupted") as soon as the
// dead instance's lease lapses, appends turn.failed for followers, and the session takes a
// new turn at once.
import t from 'tap'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway, type RunningGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

t.test('a gateway killed with SIGKILL mid-turn: the turn is failed/interrupted within 10 s of the restart', { timeout: 120_000 }, async (t) => {
  // a generation that runs far longer than the test: the kill lands mid-stream
  const sim = await startSimulator(t, { stepDelayMs: 2, generationMs: 120_000, heartbeatIntervalMs: 100, mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url)
  const kill = async (g: RunningGateway) => { g.kill('SIGKILL'); await g.exit }
  let gw = startGateway(env)
  t.teardown(async () => { await kill(gw) })
  let base = await gw.url
  const call = jsonClient(() => base)
  const { as } = await adminTenant(call, adminToken)
  const session = (await call('POST', '/v1/sessions', {}, as)).json
  const started = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:generation] a long city timelapse' }, as)
  t.equal(started.status, 202)
  const turnId = started.json.id as string
  // kill once the upstream stream is open: the turn is running, nothing is cleaned up
  await waitFor(async () => await sim.counters(), (c) => c.openStreams >= 1)
  await kill(gw)

  gw = startGateway(env)
  base = await gw.url
  const restartedAt = Date.now()
  const events = `/v1/sessions/${session.id}/events?limit=100`
  const failed = await waitFor(async () => (await call('GET', events, undefined, as)).json.items as any[],
    (items: any[]) => items.some((e: any) => e.type === 'turn.failed' && e.turnId === turnId), 15_000)
  const seconds = (Date.now() - restartedAt) / 1000
  t.comment(`turn.failed ${seconds.toFixed(1)} s after the restart`)
  t.ok(seconds <= 10, `turn.failed within 10 s of the restart (${seconds.toFixed(1)} s)`)
  const event = failed.find((e: any) => e.type === 'turn.failed')
  t.equal(event.payload.status, 'failed')
  t.equal(event.payload.error.reason, 'interrupted')
  const turn = (await call('GET', `/v1/sessions/${session.id}/turns/${turnId}`, undefined, as)).json
  t.equal(turn.status, 'failed')
  t.equal(turn.error.reason, 'interrupted')
  t.ok(turn.finishedAt)

  await sim.configure({ generationMs: 50 })
  const next = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:text] hello again' }, as)
  t.equal(next.status, 202, 'the session takes a new turn at once')
})
