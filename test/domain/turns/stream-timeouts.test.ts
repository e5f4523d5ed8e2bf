// Stream limits that agree (contract §4.1, §6): silence (no byte at all) < heartbeats only <
// the turn limit, one setting each, and an upstream that goes fully silent enters the same
// recovery as a heartbeat-only one (poll the state, report the edit, or fail after the
// unchanged polls) instead of failing the turn outright.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import t from 'tap'
import { buildConfig } from '../../../src/config.ts'
import { NemoClient } from '../../../src/nemo/client.ts'
import { NemoError } from '../../../src/nemo/errors.ts'
import { buildGateway } from '../../helpers/app.ts'
import { readSse, type SseFrame } from '../../helpers/sse.ts'

t.test('one setting each, and the defaults nest', async (t) => {
  const c = buildConfig()
  t.equal(c.TURN_SILENCE_MS, 5 * 60_000)
  t.equal(c.TURN_HEARTBEAT_ONLY_MS, 10 * 60_000)
  t.equal(c.TURN_TIMEOUT_MS, 15 * 60_000)
  t.throws(() => buildConfig({ TURN_SILENCE_MS: 700_000 }), /TURN_SILENCE_MS.*TURN_HEARTBEAT_ONLY_MS/, 'silence must be shorter than heartbeat-only')
  t.throws(() => buildConfig({ TURN_HEARTBEAT_ONLY_MS: 900_000 }), /TURN_HEARTBEAT_ONLY_MS.*TURN_TIMEOUT_MS/, 'heartbeat-only must be shorter than the turn limit')
  const short = buildConfig({ TURN_TIMEOUT_MS: 3000 })
  t.ok(short.TURN_SILENCE_MS < short.TURN_HEARTBEAT_ONLY_MS && short.TURN_HEARTBEAT_ONLY_MS < short.TURN_TIMEOUT_MS, 'unset limits nest under a shorter turn limit')
})

t.test('a fully silent /run_sse body is a stream_silent error after TURN_SILENCE_MS', async (t) => {
  // headers, then not one byte: no heartbeat, no comment
  const server = createServer((_req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.flushHeaders() })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  const config = buildConfig({ NEMO_BASE_URL: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, TURN_SILENCE_MS: 300, TURN_HEARTBEAT_ONLY_MS: 1000, TURN_TIMEOUT_MS: 2000 })
  const client = NemoClient.fromConfig(config)
  t.teardown(() => client.destroy())
  const started = Date.now()
  let caught: unknown
  try {
    for await (const e of client.runSse('nmv_usr_x', { sessionId: '1', text: 'hi' })) t.fail(`no event expected: ${JSON.stringify(e)}`)
  } catch (err) {
    caught = err
  }
  t.ok(caught instanceof NemoError && caught.kind === 'stream_silent', `stream_silent, got ${String(caught)}`)
  const took = Date.now() - started
  t.ok(took >= 250 && took < 1500, `cut after the silence limit (${took} ms), not the old 5 minutes`)
})

const ended = (f: SseFrame) => f.event === 'turn.completed' || f.event === 'turn.failed'

t.test('a silent upstream enters the heartbeat-only recovery: the edit that landed is reported', async (t) => {
  const gw = await buildGateway(t, {
    sim: { stepDelayMs: 2, generationMs: 5000, heartbeatIntervalMs: 10 },
    config: { TURN_SILENCE_MS: 200, TURN_HEARTBEAT_ONLY_MS: 2000, TURN_TIMEOUT_MS: 10_000, TURN_RECOVERY_POLL_MS: 40, HEARTBEAT_EVENT_INTERVAL_MS: 0 }
  })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const address = gw.app.server.address() as AddressInfo
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await readSse(`http://127.0.0.1:${address.port}/v1/sessions/${session.id}/turns`, {
    method: 'POST', headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }, body: { text: '[scenario:silent-stream] make a video' }, until: ended
  })
  const types = res.frames.map((f) => f.event)
  const recovering = res.frames.find((f) => f.event === 'turn.recovering')
  t.equal(recovering?.json.payload.reason, 'silent', 'the same recovery, reason silent')
  t.ok(types.includes('state.changed'), 'the state change that landed upstream is reported')
  t.equal(types.at(-1), 'turn.completed')
  const turn = await gw.app.prisma.turn.findFirstOrThrow({ where: { sessionId: session.id } })
  t.equal(turn.status, 'completed')
})

t.test('a silent upstream whose state never changes fails after the unchanged polls', async (t) => {
  const gw = await buildGateway(t, {
    sim: { stepDelayMs: 2, generationMs: 5000, heartbeatIntervalMs: 10 },
    config: { TURN_SILENCE_MS: 150, TURN_HEARTBEAT_ONLY_MS: 2000, TURN_TIMEOUT_MS: 10_000, TURN_RECOVERY_POLL_MS: 10, TURN_RECOVERY_POLLS: 3, HEARTBEAT_EVENT_INTERVAL_MS: 0 }
  })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const address = gw.app.server.address() as AddressInfo
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await readSse(`http://127.0.0.1:${address.port}/v1/sessions/${session.id}/turns`, {
    method: 'POST', headers: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }, body: { text: '[scenario:silent-stream-stuck] hello' }, until: ended
  })
  const last = res.frames.at(-1)!
  t.equal(last.event, 'turn.failed', JSON.stringify(res.frames.map((f) => [f.event, f.json?.payload])))
  t.equal(last.json.payload.error.reason, 'silent')
  t.equal(last.json.payload.status, 'failed')
})
