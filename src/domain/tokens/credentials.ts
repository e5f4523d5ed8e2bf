// The upstream token pool. Upstream tokens carry the credits, expire after 7 days and are
// scarce (anonymous mints: 1 per client and 10 per egress IP per 7 days), so the pool never
// mints twice for one live user, never loses a token, and refuses locally before it would
// burn the upstream's mint budget. Tokens are stored encrypted (AES-256-GCM).
import { decrypt } from '../../db/crypto.ts'
import { gwError } from '../../errors.ts'
import { creditsHint, NemoError } from '../../nemo/errors.ts'
import type { Credential as CredentialRow } from '../../generated/prisma/client.ts'
import { effectiveState, LIVE_STATES, usable, type CredentialState, type Lease } from './credential-state.ts'
import type { Actor, DomainDeps } from '../common/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import { Minter } from './mint.ts'
import { TtlCache } from '../common/index.ts'
import type { CacheSync } from '../common/index.ts'

export type { Lease } from './credential-state.ts'

type Current = { lease: Lease, state: CredentialState, retryAfter: Date | null }

export class Credentials {
  private readonly metrics = domainMetrics()
  private readonly minter: Minter

  private readonly currents: TtlCache<Current | null>
  private readonly leases: TtlCache<{ lease: Lease, good: boolean } | null>

  constructor (private readonly deps: DomainDeps, private readonly caches: CacheSync) {
    this.currents = new TtlCache(deps.config.HOT_CACHE_TTL_MS)
    this.leases = new TtlCache(deps.config.HOT_CACHE_TTL_MS)
    caches.onChange((change) => {
      if (change.kind === 'keys' || change.kind === 'client-tokens' || change.kind === 'issuers' || change.kind === 'session') return
      this.currents.clear()
      this.leases.clear()
    })
    this.minter = new Minter(deps, (row) => this.lease(row))
  }

  private lease (row: CredentialRow): Lease {
    return {
      credentialId: row.id,
      token: decrypt(this.deps.encryptionKey, row.tokenCiphertext),
      kind: row.kind,
      upstreamUserId: row.upstreamUserId
    }
  }

  /** A token for the actor; `forNewSession` skips tokens that will expire within 24 h. */
  async acquire (actor: Actor, opts: { forNewSession: boolean }): Promise<Lease> {
    const tenant = await this.deps.prisma.tenant.findUniqueOrThrow({ where: { id: actor.tenantId }, select: { tokenMode: true } })
    if (tenant.tokenMode === 'registered') return await this.acquireRegistered(actor.tenantId, opts.forNewSession)
    const found = await this.findUsableAnonymous(actor.userId, opts.forNewSession)
    if (found) return this.lease(found)
    const minted = await this.minter.mint(actor, opts.forNewSession)
    this.forget()
    return minted
  }

  /**
   * The credential a session is pinned to, when it can still be used. An exhausted one still
   * is: reads and free work (state, export) need no credits, and a call that does spend is
   * answered 2001 by the upstream itself.
   */
  async usableLease (credentialId: string): Promise<Lease | null> {
    // a token in good standing is reused for HOT_CACHE_TTL_MS, decrypted once (see current())
    return await this.leases.load(credentialId, async () => {
      let row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
      if (row?.state === 'exhausted') row = await this.revive(row)
      if (!row || !(usable(effectiveState(row), false) || effectiveState(row) === 'exhausted')) return null
      const state = effectiveState(row)
      return { lease: this.lease(row), good: state === 'active' || state === 'expiring' }
    }, (found) => found?.good === true).then((found) => found?.lease ?? null)
  }

  /**
   * The user's current token and its state, never minting: null while the user has none
   * (a read answers without spending one of the upstream's scarce mints). Registered
   * tenants get the token an action would use.
   */
  async current (actor: Actor, tokenMode?: 'anonymous' | 'registered'): Promise<Current | null> {
    const mode = tokenMode ?? (await this.deps.prisma.tenant.findUniqueOrThrow({ where: { id: actor.tenantId }, select: { tokenMode: true } })).tokenMode
    // the hot path: a token in good standing is reused for HOT_CACHE_TTL_MS (decrypted once);
    // any change this instance makes to a token clears the cache, other states are read anew
    const key = mode === 'registered' ? `t:${actor.tenantId}` : `u:${actor.userId}`
    return await this.currents.load(key, async () => await this.readCurrent(actor, mode),
      (found) => found !== null && (found.state === 'active' || found.state === 'expiring'))
  }

  /** Forgets every cached current token, here and on every instance (a token changed state, was added or removed). */
  forget (): void {
    this.caches.changed({ kind: 'tokens' })
  }

  private async readCurrent (actor: Actor, mode: 'anonymous' | 'registered'): Promise<Current | null> {
    if (mode === 'registered') return { lease: await this.acquireRegistered(actor.tenantId, false), state: 'active', retryAfter: null }
    const rows = await this.deps.prisma.credential.findMany({
      where: { userId: actor.userId, kind: 'anonymous', state: { in: [...LIVE_STATES] } },
      orderBy: { createdAt: 'desc' }
    })
    const row = rows.find(r => effectiveState(r) !== 'expired')
    return row ? { lease: this.lease(row), state: effectiveState(row), retryAfter: row.retryAfter } : null
  }

  /**
   * Refuses at once (402 with the registration or top-up hint) an action on a token the pool
   * already knows to have no credits: the upstream answered 2001 and its re-check back-off
   * (CREDITS_EXHAUSTED_RECHECK_MS) has not passed, or a re-check found none. A turn would
   * otherwise be accepted only to fail a moment later with the same answer.
   */
  async assertNotExhausted (credentialId: string): Promise<void> {
    const row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
    if (row?.state !== 'exhausted') return
    const now = await this.revive(row)
    if (now.state !== 'exhausted') return
    throw gwError('GW_ERR_CREDITS_EXHAUSTED', 'The upstream credits for this user are used up', {
      extensions: { hint: creditsHint(now.upstreamUserId) }
    })
  }

  /**
   * 2001 is not forever: the upstream balance can be topped up. An exhausted token whose
   * back-off (CREDITS_EXHAUSTED_RECHECK_MS) is over gets one balance read; credits left
   * make it active again, none start a new back-off. Returns the row as it now is.
   */
  private async revive (row: CredentialRow): Promise<CredentialRow> {
    if (row.state !== 'exhausted' || (row.retryAfter !== null && row.retryAfter.getTime() > Date.now())) return row
    let available = 0
    try {
      available = (await this.deps.nemo.getCredits(this.lease(row).token)).available
    } catch (err) {
      this.deps.log.warn({ err, credentialId: row.id }, 'could not re-check an exhausted token')
    }
    return await this.noteBalance(row.id, available) ?? row
  }

  /** A fresh balance of a token: credits on an exhausted token end that state. */
  async noteBalance (credentialId: string, available: number): Promise<CredentialRow | null> {
    const { prisma, config } = this.deps
    if (available > 0) {
      const { count } = await prisma.credential.updateMany({
        where: { id: credentialId, state: 'exhausted' },
        data: { state: 'active', retryAfter: null, stateReason: 'credits found on a balance re-check' }
      })
      this.forget()
      if (count > 0) this.deps.log.info({ credentialId }, 'an exhausted token has credits again')
    } else {
      await prisma.credential.updateMany({
        where: { id: credentialId, state: 'exhausted' },
        data: { retryAfter: new Date(Date.now() + config.CREDITS_EXHAUSTED_RECHECK_MS) }
      })
      this.forget()
    }
    return await prisma.credential.findUnique({ where: { id: credentialId } })
  }

  /**
   * The credential's token whatever its state: a render lives on the token that submitted it,
   * so polling it has no other token to try. Null when the credential is gone.
   */
  async leaseInAnyState (credentialId: string): Promise<Lease | null> {
    const row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
    return row ? this.lease(row) : null
  }

  private async findUsableAnonymous (userId: string, forNewSession: boolean): Promise<CredentialRow | null> {
    const rows = await this.deps.prisma.credential.findMany({
      where: { userId, kind: 'anonymous', state: { in: [...LIVE_STATES] } },
      orderBy: { createdAt: 'desc' }
    })
    // only the newest token of a user may come back from exhausted: older ones were replaced
    if (rows[0]?.state === 'exhausted') rows[0] = await this.revive(rows[0])
    return rows.find(r => usable(effectiveState(r), forNewSession)) ?? null
  }

  private async acquireRegistered (tenantId: string, forNewSession: boolean): Promise<Lease> {
    const found = await this.deps.prisma.credential.findMany({
      where: { tenantId, kind: 'registered', state: { in: [...LIVE_STATES] } },
      include: { _count: { select: { sessions: true } } }
    })
    const rows = []
    for (const r of found) {
      const now = r.state === 'exhausted' ? await this.revive(r) : r
      rows.push({ ...now, _count: r._count })
    }
    // least loaded first, so sessions spread over the tenant's tokens
    const candidates = rows
      .filter(r => usable(effectiveState(r), forNewSession))
      .sort((a, b) => a._count.sessions - b._count.sessions)
    const chosen = candidates[0]
    if (!chosen) {
      throw gwError('GW_ERR_NO_CREDENTIAL', 'The tenant has no usable registered upstream token; register one with the admin API', {
        extensions: { tokenMode: 'registered' }
      })
    }
    return this.lease(chosen)
  }

  /**
   * Records what an upstream error says about the token and says what to do next: 'same'
   * retries once with this token (a 1001 that a balance read contradicts), 'other' retries
   * once with another token (a confirmed 1001), 'none' lets the error stand. No single
   * upstream answer retires a token: a 1001 is re-verified before the token is given up
   * (and a new one minted under the 7-day mint limits).
   */
  async noteFailure (lease: Lease, err: unknown): Promise<'same' | 'other' | 'none'> {
    if (!(err instanceof NemoError)) return 'none'
    this.metrics.credentialFailures.add(1, { kind: err.kind })
    const { prisma, config } = this.deps
    switch (err.kind) {
      case 'token_invalid': {
        const verdict = await this.reverify(lease)
        if (verdict === 'valid') {
          this.deps.log.warn({ credentialId: lease.credentialId }, 'upstream rejected a token that a balance read accepts; retrying with it')
          return 'same'
        }
        if (verdict === 'unknown') return 'none'
        const revoked = /revoked/i.test(err.upstreamMessage ?? '')
        await prisma.credential.update({
          where: { id: lease.credentialId },
          data: { state: revoked ? 'revoked' : 'expired', stateReason: err.upstreamMessage ?? 'upstream code 1001' }
        })
        this.forget()
        this.deps.log.warn({ credentialId: lease.credentialId, state: revoked ? 'revoked' : 'expired' }, 'upstream rejected a token')
        return 'other'
      }
      case 'credits_exhausted':
        await prisma.credential.update({
          where: { id: lease.credentialId },
          data: { state: 'exhausted', stateReason: 'upstream code 2001', retryAfter: new Date(Date.now() + config.CREDITS_EXHAUSTED_RECHECK_MS) }
        })
        this.forget()
        return 'none'
      case 'rate_limited': {
        const seconds = err.retryAfterSec ?? 30
        await prisma.credential.update({
          where: { id: lease.credentialId },
          data: { state: 'rate_limited', retryAfter: new Date(Date.now() + seconds * 1000), stateReason: 'upstream HTTP 429' }
        })
        this.forget()
        return 'none'
      }
      default:
        return 'none'
    }
  }

  /** One balance read with the token: does the upstream still accept it? */
  private async reverify (lease: Lease): Promise<'valid' | 'invalid' | 'unknown'> {
    try {
      await this.deps.nemo.getCredits(lease.token)
      return 'valid'
    } catch (err) {
      if (err instanceof NemoError && err.kind === 'token_invalid') return 'invalid'
      // a balance that cannot be read, or a 2001, still proves the token is known
      if (err instanceof NemoError && (err.kind === 'credits_exhausted' || err.kind === 'bad_response')) return 'valid'
      return 'unknown'
    }
  }

  /**
   * Runs one upstream call with a token: a 1001 is re-verified, then the call is retried once
   * with the same token (not confirmed) or a new one (confirmed: re-minted or another
   * registered token); 2001 answers 402 with the upstream's hint.
   */
  async withToken<T> (actor: Actor, first: Lease, call: (lease: Lease) => Promise<T>, reacquire?: () => Promise<Lease>): Promise<T> {
    try {
      return await call(first)
    } catch (err) {
      const next = await this.noteFailure(first, err)
      if (next === 'none') throw this.explain(first, err)
      const lease = next === 'same' ? first : reacquire ? await reacquire() : await this.acquire(actor, { forNewSession: false })
      try {
        return await call(lease)
      } catch (err2) {
        await this.noteFailure(lease, err2)
        throw this.explain(lease, err2)
      }
    }
  }

  private explain (lease: Lease, err: unknown): unknown {
    if (err instanceof NemoError && err.kind === 'credits_exhausted') {
      return gwError('GW_ERR_CREDITS_EXHAUSTED', 'The upstream credits for this user are used up', {
        extensions: { hint: creditsHint(lease.upstreamUserId) },
        cause: err
      })
    }
    return err
  }
}
