// Standard Webhooks (https://www.standardwebhooks.com): `webhook-id`, `webhook-timestamp` and
// `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, space-separated for
// several), keyed with the endpoint's `whsec_<base64>` secret.
import { createHmac, timingSafeEqual } from 'node:crypto'

export class WebhookVerificationError extends Error {
  override readonly name = 'WebhookVerificationError'
}

export interface VerifyOptions {
  /** How far the timestamp may be from now, in seconds (default 300). */
  toleranceSeconds?: number
  /** The current time, for tests (default Date.now()). */
  now?: Date
}

type Headers_ = Headers | Record<string, string | string[] | undefined>

function header (headers: Headers_, name: string): string | undefined {
  if (typeof (headers as Headers).get === 'function') return (headers as Headers).get(name) ?? undefined
  const h = headers as Record<string, string | string[] | undefined>
  const v = h[name] ?? h[Object.keys(h).find(k => k.toLowerCase() === name) ?? '']
  return Array.isArray(v) ? v[0] : v
}

/**
 * Checks a delivery against the endpoint's secret (or any of several, e.g. during a rotation)
 * and returns its parsed body. `body` must be the raw bytes as received. Throws
 * WebhookVerificationError when a header is missing, the timestamp is outside the tolerance
 * or no signature matches.
 */
export function verifyWebhook<T = unknown> (body: string | Uint8Array, headers: Headers_, secret: string | string[], opts: VerifyOptions = {}): T {
  const id = header(headers, 'webhook-id')
  const timestamp = header(headers, 'webhook-timestamp')
  const signatures = header(headers, 'webhook-signature')
  if (id === undefined || timestamp === undefined || signatures === undefined) throw new WebhookVerificationError('missing webhook-id, webhook-timestamp or webhook-signature header')
  if (!/^\d+$/.test(timestamp)) throw new WebhookVerificationError('invalid webhook-timestamp')
  const now = Math.floor((opts.now ?? new Date()).getTime() / 1000)
  const tolerance = opts.toleranceSeconds ?? 300
  const ts = Number(timestamp)
  if (ts < now - tolerance) throw new WebhookVerificationError('webhook-timestamp too old')
  if (ts > now + tolerance) throw new WebhookVerificationError('webhook-timestamp in the future')

  const raw = typeof body === 'string' ? Buffer.from(body, 'utf8') : Buffer.from(body)
  const signed = Buffer.concat([Buffer.from(`${id}.${timestamp}.`, 'utf8'), raw])
  const given = signatures.split(' ').flatMap((s) => {
    const [version, value] = s.split(',')
    return version === 'v1' && value !== undefined ? [Buffer.from(value, 'base64')] : []
  })
  for (const s of Array.isArray(secret) ? secret : [secret]) {
    const key = Buffer.from(s.startsWith('whsec_') ? s.slice('whsec_'.length) : s, 'base64')
    const expected = createHmac('sha256', key).update(signed).digest()
    if (given.some(g => g.length === expected.length && timingSafeEqual(g, expected))) return JSON.parse(raw.toString('utf8')) as T
  }
  throw new WebhookVerificationError('no matching signature')
}
