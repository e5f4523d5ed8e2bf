// verifyWebhook against signatures made by the `standardwebhooks` reference library.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { Webhook } from 'standardwebhooks'
import { verifyWebhook, WebhookVerificationError } from '../../clients/typescript/src/index.ts'

const secret = 'whsec_' + randomBytes(24).toString('base64')
const other = 'whsec_' + randomBytes(24).toString('base64')
const body = JSON.stringify({ type: 'export.completed', data: { id: 'e1', note: 'ünïcode ✓' } })

function signed (at: Date, withSecret = secret, id = 'msg_1'): Record<string, string> {
  const signature = new Webhook(withSecret).sign(id, at, body)
  return { 'webhook-id': id, 'webhook-timestamp': String(Math.floor(at.getTime() / 1000)), 'webhook-signature': signature }
}

t.test('a delivery signed by standardwebhooks verifies and parses', async (t) => {
  const now = new Date()
  t.same(verifyWebhook(body, signed(now), secret), JSON.parse(body))
  t.same(verifyWebhook(new TextEncoder().encode(body), new Headers(signed(now)), secret), JSON.parse(body), 'bytes and a Headers object')
  t.same(verifyWebhook(body, signed(now, other), [secret, other]), JSON.parse(body), 'any secret of a rotation')
  // several signatures in the header: one valid is enough
  const h = signed(now)
  h['webhook-signature'] = `v1,${randomBytes(32).toString('base64')} ${h['webhook-signature']}`
  t.same(verifyWebhook(body, h, secret), JSON.parse(body))
  // and the reference library accepts what it signed the same way
  t.same(new Webhook(secret).verify(body, signed(now)), JSON.parse(body))
})

t.test('tampering, a wrong secret, a stale or future timestamp are refused', async (t) => {
  const now = new Date()
  t.throws(() => verifyWebhook(body.replace('e1', 'e2'), signed(now), secret), WebhookVerificationError)
  t.throws(() => verifyWebhook(body, signed(now, other), secret), WebhookVerificationError)
  t.throws(() => verifyWebhook(body, { ...signed(now), 'webhook-id': 'msg_2' }, secret), WebhookVerificationError)
  t.throws(() => verifyWebhook(body, signed(new Date(now.getTime() - 301_000)), secret), /too old/)
  t.throws(() => verifyWebhook(body, signed(new Date(now.getTime() + 301_000)), secret), /future/)
  t.same(verifyWebhook(body, signed(new Date(now.getTime() - 60_000)), secret, { toleranceSeconds: 120 }), JSON.parse(body))
  const { 'webhook-signature': _, ...unsigned } = signed(now)
  t.throws(() => verifyWebhook(body, unsigned, secret), /missing/)
})
