// Retry-After, read the same way on both sides of the gateway: the upstream client (nemo/)
// reads the upstream's, webhook delivery (domain/webhooks) a receiver's. The header is someone
// else's number: one bad value must not park a token or a message for a week.

/** The longest Retry-After believed, in seconds, unless the caller says otherwise. */
export const RETRY_AFTER_MAX_SEC = 3600

/**
 * Retry-After as delay-seconds or an HTTP-date (RFC 9110 §10.2.3), clamped to `max` seconds;
 * undefined when unreadable.
 */
export function parseRetryAfter (value: string | null | undefined, now: number = Date.now(), max: number = RETRY_AFTER_MAX_SEC): number | undefined {
  if (value === null || value === undefined) return undefined
  const v = value.trim()
  // a digit string of any length: Number() of 20 digits is 1e20, still clamped below
  if (/^\d+$/.test(v)) return Math.min(max, Number(v))
  if (/^-/.test(v)) return undefined
  const at = Date.parse(v)
  if (Number.isNaN(at)) return undefined
  return Math.min(max, Math.max(0, Math.ceil((at - now) / 1000)))
}
