// The hot path's caches (tenant settings, users' current tokens, verified API keys, session
// rows) hold what an operator or a turn can change. A change made on one instance is applied there at once and sent to
// every other instance over the pub/sub (Redis with REDIS_URL), which applies it too; the
// caches' TTLs (HOT_CACHE_TTL_MS, AUTH_CACHE_TTL_MS) stay the backstop for a lost message.

export type CacheChange =
  /** A tenant's settings (mode, budget, spend): its cached settings and every cached token. */
  | { kind: 'tenant', tenantId: string }
  /** A token was added, removed or changed state: every cached current token. */
  | { kind: 'tokens' }
  /** An API key was revoked, rotated or created: every cached key verdict. */
  | { kind: 'keys' }
  /** A user was deleted (or all of a tenant's, without `externalId`): their cached user rows. */
  | { kind: 'users', tenantId: string, externalId?: string }
  /** A user's client tokens were revoked: the cached revocation time. */
  | { kind: 'client-tokens', tenantId: string, externalId: string }
  /** A portal link was revoked: every cached portal verdict. */
  | { kind: 'portal-sessions' }
  /** A tenant's token issuers changed: the cached issuer rows. */
  | { kind: 'issuers' }
  /** A session's row was written (reset, token re-pinned, state snapshot saved): its cached view. */
  | { kind: 'session', sessionId: string }

type Apply = (change: CacheChange) => void

export class CacheSync {
  private readonly appliers: Apply[] = []
  private send: ((change: CacheChange) => void) | undefined

  /** What to do when a change arrives (from here or from another instance). */
  onChange (apply: Apply): void {
    this.appliers.push(apply)
  }

  /** The transport to the other instances (the pub/sub plugin sets it). */
  sendWith (send: (change: CacheChange) => void): void {
    this.send = send
  }

  /** A change made on this instance: applied here at once, then sent to the others. */
  changed (change: CacheChange): void {
    this.apply(change)
    this.send?.(change)
  }

  /** A change another instance made. */
  apply (change: CacheChange): void {
    for (const apply of this.appliers) apply(change)
  }
}
