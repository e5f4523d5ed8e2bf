// The upstream token pool. Upstream tokens carry the credits, expire after 7 days and are
// scarce (anonymous mints: 1 per client and 10 per egress IP per 7 days), so the pool never
// mints twice for one live user, never loses a token, and refuses locally before it would
// burn the upstream's mint budget. Tokens are stored encrypted (AES-256-GCM).
import { decrypt, encrypt, sha256Hex } from '../db/crypto.ts'
import { gwError } from '../errors.ts'
import { NemoError } from '../nemo/errors.ts'
import type { Credential as CredentialRow } from '../generated/prisma/client.ts'
import type { Actor, DomainDeps } from './deps.ts'
import { domainMetrics } from './metrics.ts'

export type CredentialState = 'active' | 'expiring' | 'expired' | 'exhausted' | 'rate_limited' | 'revoked'

/** A token that will be dead within a day takes no new sessions (a session outlives a call). */
export const EXPIRING_WINDOW_MS = 24 * 60 * 60 * 1000
export const MINT_WINDOW_MS = 7 * 24 * 60 * 60 * 1000
const EGRESS = 'default'

/** A usable token, decrypted for one call. Never logged, never returned to a caller. */
export interface Lease {
  credentialId: string
  token: string
  kind: 'anonymous' | 'registered'
  upstreamUserId: string | null
}

export interface CredentialView {
  id: string
  tenantId: string
  userId: string | null
  kind: 'anonymous' | 'registered'
  label: string | null
  state: CredentialState
  stateReason: string | null
  upstreamUserId: string | null
  expiresAt: Date | null
  retryAfter: Date | null
  createdAt: Date
  sessions?: number
}

/** The state a row is in now: time moves tokens to expiring/expired and out of rate_limited. */
export function effectiveState (row: Pick<CredentialRow, 'state' | 'expiresAt' | 'retryAfter'>, now = Date.now()): CredentialState {
  if (row.state === 'revoked' || row.state === 'exhausted' || row.state === 'expired') return row.state
  if (row.expiresAt && row.expiresAt.getTime() <= now) return 'expired'
  if (row.state === 'rate_limited' && row.retryAfter && row.retryAfter.getTime() > now) return 'rate_limited'
  if (row.expiresAt && row.expiresAt.getTime() - now < EXPIRING_WINDOW_MS) return 'expiring'
  return 'active'
}

function usable (state: CredentialState, forNewSession: boolean): boolean {
  return state === 'active' || (!forNewSession && state === 'expiring')
}

export function registerHint (upstreamUserId: string | null): string {
  return upstreamUserId?.startsWith('anon_') === true
    ? `https://nemovideo.com/register?bind=${upstreamUserId}`
    : 'Top up the upstream account\'s credits, or register a token that has credits left'
}

export class Credentials {
  private readonly minting = new Map<string, Promise<Lease>>()
  private readonly metrics = domainMetrics()

  constructor (private readonly deps: DomainDeps) {}

  view (row: CredentialRow & { _count?: { sessions: number } }): CredentialView {
    return {
      id: row.id,
      tenantId: row.tenantId,
      userId: row.userId,
      kind: row.kind,
      label: row.label,
      state: effectiveState(row),
      stateReason: row.stateReason,
      upstreamUserId: row.upstreamUserId,
      expiresAt: row.expiresAt,
      retryAfter: row.retryAfter,
      createdAt: row.createdAt,
      ...(row._count ? { sessions: row._count.sessions } : {})
    }
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
    return await this.mintOnce(actor, opts.forNewSession)
  }

  /** The credential a session is pinned to, when it can still be used. */
  async leaseFor (credentialId: string): Promise<Lease | null> {
    const row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
    if (!row || !usable(effectiveState(row), false)) return null
    return this.lease(row)
  }

  private async findUsableAnonymous (userId: string, forNewSession: boolean): Promise<CredentialRow | null> {
    const rows = await this.deps.prisma.credential.findMany({
      where: { userId, kind: 'anonymous', state: { in: ['active', 'expiring', 'rate_limited'] } },
      orderBy: { createdAt: 'desc' }
    })
    return rows.find(r => usable(effectiveState(r), forNewSession)) ?? null
  }

  private async acquireRegistered (tenantId: string, forNewSession: boolean): Promise<Lease> {
    const rows = await this.deps.prisma.credential.findMany({
      where: { tenantId, kind: 'registered', state: { in: ['active', 'expiring', 'rate_limited'] } },
      include: { _count: { select: { sessions: true } } }
    })
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
   * Mints one anonymous token for the user, however many requests ask at once: callers in
   * this process share one promise; other instances wait on a Postgres advisory lock and
   * then find the token the first one stored.
   */
  private async mintOnce (actor: Actor, forNewSession: boolean): Promise<Lease> {
    const pending = this.minting.get(actor.userId)
    if (pending) return await pending
    const work = this.mintLocked(actor, forNewSession).finally(() => this.minting.delete(actor.userId))
    this.minting.set(actor.userId, work)
    return await work
  }

  private async mintLocked (actor: Actor, forNewSession: boolean): Promise<Lease> {
    const { prisma, nemo } = this.deps
    return await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('mint'), hashtext(${actor.userId}))`
      const again = await tx.credential.findMany({
        where: { userId: actor.userId, kind: 'anonymous', state: { in: ['active', 'expiring', 'rate_limited'] } },
        orderBy: { createdAt: 'desc' }
      })
      const live = again.find(r => usable(effectiveState(r), forNewSession))
      if (live) return this.lease(live)

      let user = await tx.user.findUniqueOrThrow({ where: { id: actor.userId } })
      const previous = await tx.credential.findFirst({ where: { userId: actor.userId, kind: 'anonymous' }, orderBy: { createdAt: 'desc' } })
      if (previous) {
        const state = effectiveState(previous)
        if (state === 'rate_limited') {
          const seconds = Math.max(1, Math.ceil(((previous.retryAfter?.getTime() ?? Date.now()) - Date.now()) / 1000))
          throw gwError('GW_ERR_UPSTREAM_RATE_LIMITED', 'The upstream is rate limiting this user\'s token', {
            headers: { 'retry-after': String(seconds) },
            extensions: { retryAfter: seconds }
          })
        }
        if (state === 'exhausted') {
          throw gwError('GW_ERR_CREDITS_EXHAUSTED', 'This user\'s upstream credits are used up', {
            extensions: { hint: registerHint(previous.upstreamUserId) }
          })
        }
        // a client id whose token was revoked is burnt for 7 days upstream: use a fresh one
        if (state === 'revoked') user = await tx.user.update({ where: { id: user.id }, data: { clientId: crypto.randomUUID() } })
      }

      const since = new Date(Date.now() - MINT_WINDOW_MS)
      const clientMint = await tx.mintLedger.findFirst({
        where: { clientId: user.clientId, outcome: 'minted', createdAt: { gt: since } },
        orderBy: { createdAt: 'desc' }
      })
      if (clientMint && !(previous && effectiveState(previous) === 'expired')) {
        // the upstream would refuse (1 mint per client per 7 days): a token that is only
        // close to expiry is still better than none, so a new session may use it
        if (previous && effectiveState(previous) === 'expiring') return this.lease(previous)
        throw this.mintLimit('this user\'s client id was used to mint a token less than 7 days ago', clientMint.createdAt)
      }
      const ipMints = await tx.mintLedger.findMany({
        where: { egressIp: EGRESS, outcome: 'minted', createdAt: { gt: since } },
        orderBy: { createdAt: 'asc' },
        select: { createdAt: true }
      })
      if (ipMints.length >= this.deps.config.MINT_LIMIT_PER_IP) {
        throw this.mintLimit(`the gateway minted ${ipMints.length} anonymous tokens in the last 7 days, the upstream's limit per IP`, ipMints[0]!.createdAt)
      }

      let minted
      try {
        minted = await nemo.mintAnonymousToken(user.clientId)
      } catch (err) {
        this.metrics.mints.add(1, { outcome: err instanceof NemoError ? err.kind : 'error' })
        if (err instanceof NemoError && err.kind === 'rate_limited') {
          await tx.mintLedger.create({ data: { clientId: user.clientId, egressIp: EGRESS, tenantId: actor.tenantId, outcome: 'rate_limited' } })
          throw gwError('GW_ERR_MINT_LIMIT', 'The upstream refused to mint another anonymous token (rate limited)', {
            headers: err.retryAfterSec ? { 'retry-after': String(err.retryAfterSec) } : {},
            extensions: { retryAfter: err.retryAfterSec ?? null }
          })
        }
        throw err
      }
      await tx.mintLedger.create({ data: { clientId: user.clientId, egressIp: EGRESS, tenantId: actor.tenantId, outcome: 'minted' } })
      const row = await tx.credential.create({
        data: {
          tenantId: actor.tenantId,
          userId: actor.userId,
          kind: 'anonymous',
          tokenCiphertext: encrypt(this.deps.encryptionKey, minted.token),
          tokenHash: sha256Hex(minted.token),
          upstreamUserId: minted.userId ?? null,
          expiresAt: minted.expiresAt ?? new Date(Date.now() + MINT_WINDOW_MS),
          lastCredits: { available: minted.credits ?? null }
        }
      })
      this.metrics.mints.add(1, { outcome: 'minted' })
      this.deps.log.info({ credentialId: row.id, userId: actor.userId }, 'minted an anonymous upstream token')
      return this.lease(row)
    }, { timeout: this.deps.config.NEMO_HEADERS_TIMEOUT_MS + 5000, maxWait: 30_000 })
  }

  private mintLimit (why: string, oldest: Date) {
    const retryAfter = Math.max(1, Math.ceil((oldest.getTime() + MINT_WINDOW_MS - Date.now()) / 1000))
    return gwError('GW_ERR_MINT_LIMIT', `No new upstream token can be minted: ${why}`, {
      headers: { 'retry-after': String(retryAfter) },
      extensions: { retryAfter }
    })
  }

  /**
   * Records what an upstream error says about the token. Returns true when the caller
   * should retry once with another token (1001), false when the error stands.
   */
  async noteFailure (lease: Lease, err: unknown): Promise<boolean> {
    if (!(err instanceof NemoError)) return false
    this.metrics.credentialFailures.add(1, { kind: err.kind })
    const { prisma } = this.deps
    switch (err.kind) {
      case 'token_invalid': {
        const revoked = /revoked/i.test(err.upstreamMessage ?? '')
        await prisma.credential.update({
          where: { id: lease.credentialId },
          data: { state: revoked ? 'revoked' : 'expired', stateReason: err.upstreamMessage ?? 'upstream code 1001' }
        })
        this.deps.log.warn({ credentialId: lease.credentialId, state: revoked ? 'revoked' : 'expired' }, 'upstream rejected a token')
        return true
      }
      case 'credits_exhausted':
        await prisma.credential.update({ where: { id: lease.credentialId }, data: { state: 'exhausted', stateReason: 'upstream code 2001' } })
        return false
      case 'rate_limited': {
        const seconds = err.retryAfterSec ?? 30
        await prisma.credential.update({
          where: { id: lease.credentialId },
          data: { state: 'rate_limited', retryAfter: new Date(Date.now() + seconds * 1000), stateReason: 'upstream HTTP 429' }
        })
        return false
      }
      default:
        return false
    }
  }

  /**
   * Runs one upstream call with a token: 1001 marks the token and retries once with a new
   * one (re-minted or another registered token); 2001 answers 402 with the upstream's hint.
   */
  async withToken<T> (actor: Actor, first: Lease, call: (lease: Lease) => Promise<T>, reacquire?: () => Promise<Lease>): Promise<T> {
    try {
      return await call(first)
    } catch (err) {
      const retry = await this.noteFailure(first, err)
      if (!retry) throw this.explain(first, err)
      const next = reacquire ? await reacquire() : await this.acquire(actor, { forNewSession: false })
      try {
        return await call(next)
      } catch (err2) {
        await this.noteFailure(next, err2)
        throw this.explain(next, err2)
      }
    }
  }

  private explain (lease: Lease, err: unknown): unknown {
    if (err instanceof NemoError && err.kind === 'credits_exhausted') {
      return gwError('GW_ERR_CREDITS_EXHAUSTED', 'The upstream credits for this user are used up', {
        extensions: { hint: registerHint(lease.upstreamUserId) },
        cause: err
      })
    }
    return err
  }

  // --- registered tokens (admin) ---

  async register (tenantId: string, input: { token: string, label?: string, expiresAt?: Date | null }): Promise<CredentialView> {
    const hash = sha256Hex(input.token)
    const dup = await this.deps.prisma.credential.findUnique({ where: { tokenHash: hash } })
    if (dup) throw gwError('GW_ERR_CONFLICT', 'This upstream token is registered already')
    // the upstream vouches for the token before the pool takes it; its balance is the
    // baseline the tenant's spend is measured from
    let balance
    try {
      balance = await this.deps.nemo.getCredits(input.token)
    } catch (err) {
      if (err instanceof NemoError && err.kind === 'token_invalid') throw gwError('GW_ERR_VALIDATION', 'The upstream does not accept this token (invalid, expired or revoked)')
      throw err
    }
    const row = await this.deps.prisma.credential.create({
      data: {
        lastCredits: { ...balance, at: new Date().toISOString() },
        tenantId,
        kind: 'registered',
        label: input.label ?? null,
        tokenCiphertext: encrypt(this.deps.encryptionKey, input.token),
        tokenHash: hash,
        expiresAt: input.expiresAt ?? null
      }
    })
    return this.view(row)
  }

  async list (tenantId: string): Promise<CredentialView[]> {
    const rows = await this.deps.prisma.credential.findMany({
      where: { tenantId },
      include: { _count: { select: { sessions: true } } },
      orderBy: { createdAt: 'asc' }
    })
    return rows.map(r => this.view(r))
  }

  /** Removing a token revokes it: sessions pinned to it keep their history. */
  async remove (tenantId: string, id: string): Promise<CredentialView> {
    const row = await this.deps.prisma.credential.findFirst({ where: { id, tenantId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Credential ${id} not found`)
    const updated = await this.deps.prisma.credential.update({ where: { id }, data: { state: 'revoked', stateReason: 'removed by an admin' } })
    return this.view(updated)
  }
}
