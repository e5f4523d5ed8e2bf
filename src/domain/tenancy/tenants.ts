// Tenants are the teams that use the gateway. Their settings decide how upstream tokens are
// handed out (one per end user, or a shared registered pool) and their credit budget.
import { gwError } from '../../errors.ts'
import type { Db } from '../common/index.ts'
import { normalizeOrigins } from './origins.ts'

type TokenMode = 'anonymous' | 'registered'

export interface TenantView {
  id: string
  name: string
  tokenMode: TokenMode
  creditBudget: number | null
  creditsSpent: number
  /** Browser origins whose pages may call the gateway with this tenant's client tokens. */
  allowedOrigins: string[]
  createdAt: Date
}

const NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

function view (t: Omit<TenantView, 'allowedOrigins'> & { allowedOrigins: string[] | null }): TenantView {
  return { id: t.id, name: t.name, tokenMode: t.tokenMode, creditBudget: t.creditBudget, creditsSpent: t.creditsSpent, allowedOrigins: t.allowedOrigins ?? [], createdAt: t.createdAt }
}

export interface TenantSettings {
  tokenMode?: TokenMode
  creditBudget?: number | null
  allowedOrigins?: string[]
}

export class Tenants {
  private readonly changed: Array<(tenantId: string) => void> = []

  constructor (private readonly prisma: Db) {}

  async create (input: { name: string } & TenantSettings): Promise<TenantView> {
    if (!NAME.test(input.name)) {
      throw gwError('GW_ERR_VALIDATION', 'A tenant name is 1-63 chars of a-z, 0-9, ".", "_" or "-", starting with a letter or digit')
    }
    const existing = await this.prisma.tenant.findUnique({ where: { name: input.name } })
    if (existing) throw gwError('GW_ERR_CONFLICT', `A tenant named ${input.name} exists already`)
    const row = await this.prisma.tenant.create({
      data: { name: input.name, tokenMode: input.tokenMode ?? 'anonymous', creditBudget: input.creditBudget ?? null, allowedOrigins: normalizeOrigins(input.allowedOrigins ?? []) }
    })
    return view(row)
  }

  async list (): Promise<TenantView[]> {
    const rows = await this.prisma.tenant.findMany({ orderBy: { createdAt: 'asc' } })
    return rows.map(view)
  }

  async get (id: string): Promise<TenantView> {
    const row = await this.prisma.tenant.findUnique({ where: { id } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Tenant ${id} not found`)
    return view(row)
  }

  async findByName (name: string): Promise<TenantView | null> {
    const row = await this.prisma.tenant.findUnique({ where: { name } })
    return row ? view(row) : null
  }

  async update (id: string, patch: TenantSettings): Promise<TenantView> {
    await this.get(id)
    const data = patch.allowedOrigins === undefined ? patch : { ...patch, allowedOrigins: normalizeOrigins(patch.allowedOrigins) }
    const row = await this.prisma.tenant.update({ where: { id }, data })
    for (const listener of this.changed) listener(id)
    return view(row)
  }

  /** Called with a tenant's id whenever its settings change (caches forget it). */
  onChange (listener: (tenantId: string) => void): void {
    this.changed.push(listener)
  }

  async count (): Promise<number> {
    return await this.prisma.tenant.count()
  }
}
