// A user's upstream balance plus the tenant's budget. Balances are cached briefly per token
// so a burst of dashboard refreshes costs the upstream one call.
import type { Credentials, Lease } from './credentials.ts'
import { gwError } from '../errors.ts'
import type { Actor, DomainDeps } from './deps.ts'

export interface CreditsView {
  available: number
  frozen: number
  total: number
  tokenMode: 'anonymous' | 'registered'
  budget: { limit: number | null, spent: number, remaining: number | null, exceeded: boolean }
  cachedAt: Date
}

interface Balance { available: number, frozen: number, total: number, at: number }

export class Credits {
  private readonly cache = new Map<string, Balance>()

  constructor (private readonly deps: DomainDeps, private readonly credentials: Credentials) {}

  async get (actor: Actor): Promise<CreditsView> {
    const tenant = await this.deps.prisma.tenant.findUniqueOrThrow({ where: { id: actor.tenantId } })
    const lease = await this.credentials.acquire(actor, { forNewSession: false })
    const ttl = this.deps.config.CREDITS_CACHE_TTL_MS
    let balance = this.cache.get(lease.credentialId)
    let spent = tenant.creditsSpent
    if (!balance || Date.now() - balance.at > ttl) {
      let used = lease
      const fresh = await this.credentials.withToken(actor, lease, async (l) => { used = l; return await this.deps.nemo.getCredits(l.token) })
      spent += await this.observe(actor.tenantId, used, fresh)
      balance = this.cache.get(used.credentialId)!
    }
    const limit = tenant.creditBudget
    return {
      available: balance.available,
      frozen: balance.frozen,
      total: balance.total,
      tokenMode: tenant.tokenMode,
      budget: {
        limit,
        spent,
        remaining: limit === null ? null : Math.max(0, limit - spent),
        exceeded: limit !== null && spent >= limit
      },
      cachedAt: new Date(balance.at)
    }
  }

  /**
   * Records a fresh balance of a token: what it dropped by since the last observation is what
   * the upstream charged, and is added to the tenant's spend. The row lock makes concurrent
   * observations of one shared token count each credit once.
   */
  async observe (tenantId: string, lease: Lease, balance: { available: number, frozen: number, total: number }): Promise<number> {
    this.cache.set(lease.credentialId, { ...balance, at: Date.now() })
    if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
    const rows = await this.deps.prisma.$queryRaw<Array<{ previous: { available?: unknown } | null }>>`
      WITH prev AS (SELECT "lastCredits" FROM "Credential" WHERE id = ${lease.credentialId}::uuid FOR UPDATE)
      UPDATE "Credential" c SET "lastCredits" = ${JSON.stringify({ ...balance, at: new Date().toISOString() })}::jsonb
      FROM prev WHERE c.id = ${lease.credentialId}::uuid
      RETURNING prev."lastCredits" AS previous`
    const before = rows[0]?.previous?.available
    const spent = typeof before === 'number' ? Math.max(0, before - balance.available) : 0
    if (spent > 0) {
      await this.deps.prisma.tenant.update({ where: { id: tenantId }, data: { creditsSpent: { increment: spent } } })
    }
    return spent
  }

  /** Refuses new work when the tenant's budget is used up. */
  async assertWithinBudget (tenantId: string): Promise<void> {
    const tenant = await this.deps.prisma.tenant.findUniqueOrThrow({ where: { id: tenantId }, select: { creditBudget: true, creditsSpent: true } })
    if (tenant.creditBudget !== null && tenant.creditsSpent >= tenant.creditBudget) {
      throw gwError('GW_ERR_BUDGET_EXCEEDED', `The tenant has spent ${tenant.creditsSpent} of its ${tenant.creditBudget} credit budget; raise the budget to continue`, {
        extensions: { budget: tenant.creditBudget, spent: tenant.creditsSpent }
      })
    }
  }
}
