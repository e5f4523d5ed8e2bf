// Webhook delivery's retry schedule, driven through the delivery worker itself (messages written
// with Webhooks.enqueue in a transaction, as an export's finish does) against a real database
// and a real receiver: what each answer does to the message's next attempt.
import t from 'tap'
import { buildGateway } from '../../helpers/app.ts'
import { startReceiver } from '../../helpers/receiver.ts'
import { waitFor } from '../../helpers/sse.ts'

const HOUR = 3600_000

async function setup (t: Parameters<typeof buildGateway>[0], schedule = '1h,2h') {
  const gw = await buildGateway(t, { config: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8', WEBHOOK_RETRY_SCHEDULE: schedule, WEBHOOK_POLL_MS: 50 } })
  const acme = await gw.tenant('acme')
  const receiver = await startReceiver(t)
  const endpoint = (await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url } })).json()
  receiver.secrets.push(endpoint.secret)
  gw.secret(endpoint.secret)
  const send = async () => {
    await gw.app.prisma.$transaction(async (tx) => await gw.app.domain.webhooks.enqueue(tx, acme.id, 'export.completed', { exportId: 'e1' }))
    gw.app.domain.webhooks.wakeDelivery()
    return await waitFor(async () => await gw.app.prisma.webhookMessage.findFirstOrThrow({ orderBy: { createdAt: 'desc' } }), (m) => m.attemptCount >= 1 && m.lockedUntil === null)
  }
  return { gw, receiver, endpoint, send }
}

t.test('a 5xx is retried on the schedule, within ±10 % jitter', async (t) => {
  const { receiver, send } = await setup(t)
  receiver.respond(500)
  const before = Date.now()
  const m = await send()
  t.equal(m.status, 'pending')
  const wait = m.nextAttemptAt!.getTime() - before
  t.ok(wait >= 0.9 * HOUR - 5000 && wait <= 1.1 * HOUR + 5000, `next attempt in ${(wait / 60_000).toFixed(1)} min (schedule: 1 h)`)
})

t.test('a 429 with a Retry-After longer than the schedule waits the Retry-After', async (t) => {
  const { receiver, send } = await setup(t, '1s')
  receiver.respond(429, { 'retry-after': '600' })
  const before = Date.now()
  const m = await send()
  const wait = m.nextAttemptAt!.getTime() - before
  t.ok(wait >= 595_000 && wait <= 605_000, `waits ${Math.round(wait / 1000)} s, as the receiver asked`)
})

t.test('a 3xx is a failure (never followed); the last failure of the schedule fails the message', async (t) => {
  const { gw, receiver, send } = await setup(t, '50ms')
  receiver.respond(302, { location: 'http://127.0.0.1:1/elsewhere' })
  // (the first failure waits 50 ms for its retry: too short to look at reliably, so only the end is checked)
  const m = await send()
  const failed = await waitFor(async () => await gw.app.prisma.webhookMessage.findUniqueOrThrow({ where: { id: m.id } }), (x) => x.status === 'failed')
  t.equal(failed.attemptCount, 2, 'the first try and the one of the schedule')
  t.equal(failed.nextAttemptAt, null)
  t.equal(receiver.deliveries.length, 2, 'the redirect was not followed')
})

t.test('a 410 fails the message and disables the endpoint, with its reason', async (t) => {
  const { gw, receiver, endpoint, send } = await setup(t)
  receiver.respond(410)
  const m = await send()
  t.equal(m.status, 'failed')
  const ep = await gw.app.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })
  t.equal(ep.enabled, false)
  t.equal(ep.disabledReason, 'The receiver answered 410 Gone')
})

t.test('a 2xx delivers: one attempt, signed, the endpoint healthy', async (t) => {
  const { gw, receiver, endpoint, send } = await setup(t)
  const m = await send()
  t.equal(m.status, 'delivered')
  t.ok(m.deliveredAt)
  t.ok(receiver.deliveries[0]!.verifiedWith, 'the signature verifies')
  t.equal((await gw.app.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: endpoint.id } })).failingSince, null)
})
