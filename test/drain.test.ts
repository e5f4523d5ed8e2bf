// A drain (SIGTERM), as an orchestrator rolling the gateway sees it: readiness is gone at once,
// a running turn keeps its upstream stream for TURN_DRAIN_MS and then ends as interrupted (its
// followers are told, nothing is lost), SSE streams end with a `retry:` hint, GraphQL
// WebSockets close with 1001, and the process exits cleanly within SHUTDOWN_TIMEOUT_MS.
import t from 'tap'
import { request } from 'undici'
import WebSocket from 'ws'
import { createClient } from 'graphql-ws'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

t.test('SIGTERM drains: not ready at once, turns end as interrupted, streams told to reconnect, exit within the bound', { timeout: 120_000 }, async (t) => {
  const sim = await startSimulator(t, { stepDelayMs: 2, generationMs: 120_000, heartbeatIntervalMs: 100, mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url, { TURN_DRAIN_MS: '1500', SHUTDOWN_TIMEOUT_MS: '10000' })
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  const call = jsonClient(() => base)
  const { key, as } = await adminTenant(call, adminToken)
  const session = (await call('POST', '/v1/sessions', {}, as)).json

  // a GraphQL subscription on the session, over a WebSocket
  let closeCode: number | undefined
  const client = createClient({
    url: base.replace('http', 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    retryAttempts: 0,
    connectionParams: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' },
    on: { closed: (event) => { closeCode = (event as { code: number }).code } }
  })
  t.teardown(() => client.dispose())
  client.subscribe({ query: `subscription { sessionEvents(sessionId: "${session.id}") { cursor type } }` }, { next: () => {}, error: () => {}, complete: () => {} })

  // a long turn, followed over SSE (raw, to see the retry hint)
  const res = await request(`${base}/v1/sessions/${session.id}/turns`, {
    method: 'POST', headers: { ...as, accept: 'text/event-stream', 'content-type': 'application/json' }, body: JSON.stringify({ text: '[scenario:generation] a long city timelapse' })
  })
  t.equal(res.statusCode, 200)
  let raw = ''
  const streamEnded = (async () => { for await (const chunk of res.body) raw += chunk.toString() })()
  await waitFor(async () => await sim.counters(), (c) => c.openStreams >= 1)
  await waitFor(async () => closeCode, () => true, 1000).catch(() => {})

  const drainStarted = Date.now()
  gw.kill('SIGTERM')
  const readiness = async () => await request(`${base}/health/ready`).then(async (r) => { await r.body.dump(); return r.statusCode }, () => 'refused')
  const ready = await waitFor(readiness, (s) => s !== 200, 500)
  t.ok(ready === 503 || ready === 'refused', `not ready within 500 ms of SIGTERM (${ready})`)

  await streamEnded
  const drained = Date.now() - drainStarted
  t.ok(drained >= 1400, `the turn kept its stream for TURN_DRAIN_MS (${drained} ms)`)
  const frames = raw.split('\n\n')
  const failed = frames.find((f) => f.includes('event: turn.failed'))
  t.ok(failed, 'followers see the turn end: ' + frames.map(f => /event: (\S+)/.exec(f)?.[1] ?? f.slice(0, 60)).join(' '))
  t.match(failed, /"reason":"interrupted"/, 'as interrupted, not lost')

  const code = await gw.exit
  t.equal(code, 0, `a clean exit: ${gw.err.slice(-800)} ${gw.out.split('\n').filter(l => /drain|clos|error|warn/i.test(l)).slice(-8).join('\n')}`)
  t.ok(Date.now() - drainStarted < 10_000, `within SHUTDOWN_TIMEOUT_MS (${Date.now() - drainStarted} ms)`)
  t.equal(closeCode, 1001, 'GraphQL WebSockets close with 1001 (going away)')
  t.equal((await sim.counters()).openStreams, 0, 'the upstream stream was released')

  // the turn's end is in the log for whoever resumes elsewhere
  t.match(gw.out, /"msg":"closed"/)
})

t.test('an SSE follower of the event log is told to reconnect when the gateway drains', { timeout: 60_000 }, async (t) => {
  const sim = await startSimulator(t, { mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url)
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  const call = jsonClient(() => base)
  const { as } = await adminTenant(call, adminToken)
  const session = (await call('POST', '/v1/sessions', {}, as)).json
  const res = await request(`${base}/v1/sessions/${session.id}/events`, { headers: { ...as, accept: 'text/event-stream' } })
  let raw = ''
  const ended = (async () => { for await (const chunk of res.body) raw += chunk.toString() })()
  await waitFor(async () => raw, (r) => r.includes(': connected'))
  gw.kill('SIGTERM')
  await ended
  t.match(raw, /retry: \d+\n: the gateway is restarting; reconnect with Last-Event-ID/)
  t.equal(await gw.exit, 0)
})
