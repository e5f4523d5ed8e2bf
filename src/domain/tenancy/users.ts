// End users are known by the tenant's own id (X-User-Id) and created on first sight. Each
// gets a stable X-Client-Id for the upstream's anonymous-token endpoint.
import { randomUUID } from 'node:crypto'
import type { Db } from '../common/index.ts'
import { TtlCache } from '../common/index.ts'

const USER_ID_PATTERN = '^[A-Za-z0-9._:@-]{1,128}$'
const USER_ID = new RegExp(USER_ID_PATTERN)

export interface UserView {
  id: string
  tenantId: string
  externalId: string
  clientId: string
}

export function isValidExternalUserId (value: string): boolean {
  return USER_ID.test(value)
}

/** A user row never changes once made, so every request after the first needs no query. */
const USER_CACHE_TTL_MS = 60_000

export class Users {
  private readonly cache = new TtlCache<UserView>(USER_CACHE_TTL_MS, 50_000)

  constructor (private readonly prisma: Db) {}

  /** The tenant's user with this external id, created if new (safe under concurrency). */
  async ensure (tenantId: string, externalId: string): Promise<UserView> {
    const key = `${tenantId}\0${externalId}`
    return await this.cache.load(key, async () => await this.find(tenantId, externalId))
  }

  private async find (tenantId: string, externalId: string): Promise<UserView> {
    const found = await this.prisma.user.findUnique({ where: { tenantId_externalId: { tenantId, externalId } } })
    if (found) return found
    try {
      return await this.prisma.user.create({ data: { tenantId, externalId, clientId: randomUUID() } })
    } catch (err) {
      // a concurrent first request created it a moment ago
      const raced = await this.prisma.user.findUnique({ where: { tenantId_externalId: { tenantId, externalId } } })
      if (raced) return raced
      throw err
    }
  }

  /** Drops a deleted user's cached row (every cached row, without `externalId`). */
  forget (tenantId: string, externalId?: string): void {
    if (externalId === undefined) this.cache.clear()
    else this.cache.delete(`${tenantId}\0${externalId}`)
  }

  async get (tenantId: string, id: string): Promise<UserView | null> {
    return await this.prisma.user.findFirst({ where: { tenantId, id } })
  }
}
