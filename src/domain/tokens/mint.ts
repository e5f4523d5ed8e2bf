// Minting anonymous upstream tokens: exactly one per live user however many requests ask at
// once, and never past the upstream's limits (1 per client id and 10 per egress IP in 7
// days): a mint ledger counts every mint and refuses locally, with Retry-After, before an
// upstream call would burn the budget.
import { encrypt, sha256Hex } from '../../db/crypto.ts'
import { gwError } from '../../errors.ts'
import type { Credential as CredentialRow } from '../../generated/prisma/client.ts'
import { creditsHint, NemoError } from '../../nemo/errors.ts'
import { EGRESS, effectiveState, MINT_WINDOW_MS, usable, type Lease } from './credential-state.ts'
import type { Actor, DomainDeps } from '../common/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'

export class Minter {
  private readonly minting = new Map<string, Promise<Lease>>()
  private readonly metrics = domainMetrics()

  constructor (private readonly deps: DomainDeps, private readonly lease: (row: CredentialRow) => Lease) {}

  /**
   * Mints one anonymous token for the user, however many requests ask at once: callers in
   * this process share one promise; other instances wait on a Postgres advisory lock and
   * then find the token the first one stored.
   */
  async mint (actor: Actor, forNewSession: boolean): Promise<Lease> {
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
            extensions: { hint: creditsHint(previous.upstreamUserId) }
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
}
