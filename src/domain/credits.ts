// A user's upstream balance plus the tenant's budget. Balances are cached briefly per token
// so a burst of dashboard refreshes costs the upstream one call.
import type { Credentials } from './credentials.ts'
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
    if (!balance || Date.now() - balance.at > ttl) {
      const fresh = await this.credentials.withToken(actor, lease, async (l) => await this.deps.nemo.getCredits(l.token))
      balance = { ...fresh, at: Date.now() }
      this.cache.set(lease.credentialId, balance)
      if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
    }
    const limit = tenant.creditBudget
    return {
      available: balance.available,
      frozen: balance.frozen,
      total: balance.total,
      tokenMode: tenant.tokenMode,
      budget: {
        limit,
        spent: tenant.creditsSpent,
        remaining: limit === null ? null : Math.max(0, limit - tenant.creditsSpent),
        exceeded: limit !== null && tenant.creditsSpent >= limit
      },
      cachedAt: new Date(balance.at)
    }
  }
}
