// A zero balance is an answer, not an error: once a user's credits are used up, the reads
// (GET /v1/credits, GET /state, say "status", say "credits") answer 200 with the registration
// hint; only actions that spend credits answer 402 (or fail the turn with the hint).
import t from 'tap'
import { decrypt } from '../../src/db/crypto.ts'
import { creditsHint } from '../../src/nemo/errors.ts'
import { buildGateway } from '../helpers/app.ts'
import { waitFor } from '../helpers/sse.ts'

t.test('reads answer 200 on a zero balance; spending actions are refused', async (t) => {
  const gw = await buildGateway(t, { contract: true, sim: { stepDelayMs: 1, generationMs: 20, heartbeatIntervalMs: 5 } })
  const acme = await gw.tenant('acme')
  const session = (await acme.as('zoe', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const credential = await gw.app.prisma.credential.findFirstOrThrow()
  await gw.sim.control('PUT', 'credits', { token: decrypt(gw.app.encryptionKey, credential.tokenCiphertext), available: 0 })
  // a generation needs credits: the upstream answers 2001 and the token is marked exhausted
  const turn = (await acme.as('zoe', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:generation] a city' } })).json()
  const done = await waitFor(async () => (await acme.as('zoe', { method: 'GET', url: `/v1/sessions/${session.id}/turns/${turn.id}` })).json(), (x: any) => x.status !== 'running')
  t.equal(done.status, 'failed')
  t.equal(done.error.code, 'GW_ERR_CREDITS_EXHAUSTED', 'the action that spends is refused with the hint')
  t.equal((await gw.app.prisma.credential.findFirstOrThrow()).state, 'exhausted')
  const hint = creditsHint(credential.upstreamUserId)

  // the pool knows now: the next turn is refused at once with the hint, not accepted to fail
  const again = await acme.as('zoe', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: 'add a title Urban Dreams' } })
  t.equal(again.statusCode, 402, 'a turn on a token known to be used up answers 402 at once')
  t.match(again.json(), { code: 'GW_ERR_CREDITS_EXHAUSTED', hint })
  t.equal(await gw.app.prisma.turn.count({ where: { sessionId: session.id } }), 1, 'and no turn is recorded for it')

  const credits = await acme.as('zoe', { method: 'GET', url: '/v1/credits' })
  t.equal(credits.statusCode, 200, credits.body)
  t.match(credits.json(), { available: 0, token: 'exhausted', hint })

  const state = await acme.as('zoe', { method: 'GET', url: `/v1/sessions/${session.id}/state` })
  t.equal(state.statusCode, 200, state.body)

  const status = await acme.as('zoe', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text: 'status' } })
  t.equal(status.statusCode, 200, status.body)
  t.equal(status.json().action, 'state')

  const sayCredits = await acme.as('zoe', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text: 'credits' } })
  t.equal(sayCredits.statusCode, 200, sayCredits.body)
  t.match(sayCredits.json(), { action: 'credits', credits: { available: 0, hint } })

  const newSession = await acme.as('zoe', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(newSession.statusCode, 402, 'a new session on a used-up token is refused')
  t.equal(newSession.json().hint, hint)
  t.equal((await gw.sim.counters()).mints, 1, 'and nothing re-minted')
})
