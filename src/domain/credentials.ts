// The upstream token pool. Upstream tokens carry the credits, expire after 7 days and are
// scarce (anonymous mints: 1 per client and 10 per egress IP per 7 days), so the pool never
// mints twice for one live user, never loses a token, and refuses locally before it would
// burn the upstream's mint budget. Tokens are stored encrypted (AES-256-GCM).
import { decrypt, encrypt, sha256Hex } from '../db/crypto.ts'
import { gwError } from '../errors.ts'
import { NemoError } from '../nemo/errors.ts'
import type { Credential as CredentialRow } from '../generated/prisma/client.ts'
import { effectiveState, registerHint, usable, type CredentialState, type Lease } from './credential-state.ts'
import type { Actor, DomainDeps } from './deps.ts'
import { domainMetrics } from './metrics.ts'
import { Minter } from './mint.ts'

export type { CredentialState, Lease } from './credential-state.ts'

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

export class Credentials {
  private readonly metrics = domainMetrics()
  private readonly minter: Minter

  constructor (private readonly deps: DomainDeps) {
    this.minter = new Minter(deps, (row) => this.lease(row))
  }

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
    return await this.minter.mint(actor, opts.forNewSession)
  }

  /** The credential a session is pinned to, when it can still be used. */
  async leaseFor (credentialId: string): Promise<Lease | null> {
    const row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
    if (!row || !usable(effectiveState(row), false)) return null
    return this.lease(row)
  }

  /**
   * The credential's token whatever its state: a render lives on the token that submitted it,
   * so polling it has no other token to try. Null when the credential is gone.
   */
  async leaseOf (credentialId: string): Promise<Lease | null> {
    const row = await this.deps.prisma.credential.findUnique({ where: { id: credentialId } })
    return row ? this.lease(row) : null
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
