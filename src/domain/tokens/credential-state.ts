// The states of an upstream token (architecture.md §4) and what a state allows. Time moves
// a token on by itself (active -> expiring -> expired, rate_limited -> active), so the state
// is computed from the row, not only read from it.
import type { Credential as CredentialRow } from '../../generated/prisma/client.ts'

export type CredentialState = 'active' | 'expiring' | 'expired' | 'exhausted' | 'rate_limited' | 'revoked'

/** A token that will be dead within a day takes no new sessions (a session outlives a call). */
const EXPIRING_WINDOW_MS = 24 * 60 * 60 * 1000
export const MINT_WINDOW_MS = 7 * 24 * 60 * 60 * 1000
/** The gateway's one egress address, as the upstream's per-IP mint limit sees it. */
export const EGRESS = 'default'

/**
 * Stored states a token may come back from (time ends a rate limit, credits are topped up): the
 * pool looks among these for a user's token before it mints. Expired and revoked are final.
 */
export const LIVE_STATES = ['active', 'expiring', 'rate_limited', 'exhausted'] as const

/** A usable token, decrypted for one call. Never logged, never returned to a caller. */
export interface Lease {
  credentialId: string
  token: string
  kind: 'anonymous' | 'registered'
  upstreamUserId: string | null
}

/** The state a row is in now: time moves tokens to expiring/expired and out of rate_limited. */
export function effectiveState (row: Pick<CredentialRow, 'state' | 'expiresAt' | 'retryAfter'>, now = Date.now()): CredentialState {
  if (row.state === 'revoked' || row.state === 'exhausted' || row.state === 'expired') return row.state
  if (row.expiresAt && row.expiresAt.getTime() <= now) return 'expired'
  if (row.state === 'rate_limited' && row.retryAfter && row.retryAfter.getTime() > now) return 'rate_limited'
  if (row.expiresAt && row.expiresAt.getTime() - now < EXPIRING_WINDOW_MS) return 'expiring'
  return 'active'
}

export function usable (state: CredentialState, forNewSession: boolean): boolean {
  return state === 'active' || (!forNewSession && state === 'expiring')
}
