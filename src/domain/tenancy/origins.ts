// Which browser origins may call the gateway for a tenant (CORS, WebSocket upgrades). A
// preflight carries no credentials, so it is answered for an origin that any tenant allows;
// the real request, and a WebSocket, only for an origin its own tenant allows. Both answers
// are cached (HOT_CACHE_TTL_MS at least a second): an unauthenticated flood of preflights from
// made-up origins costs a set lookup, never a query.
import { gwError } from '../../errors.ts'
import type { Db } from '../common/index.ts'
import { TtlCache } from '../common/index.ts'

const MAX_ORIGINS = 50

/** `https://app.example.com[:port]` exactly as a browser sends it in `Origin`; 400 otherwise. */
function normalizeOrigin (value: string): string {
  let url: URL
  try {
    url = new URL(value)
  } catch {
    throw gwError('GW_ERR_VALIDATION', `"${value}" is not an origin like https://app.example.com`)
  }
  if ((url.protocol !== 'https:' && url.protocol !== 'http:') || url.origin !== value.replace(/\/$/, '').toLowerCase()) {
    throw gwError('GW_ERR_VALIDATION', `"${value}" is not an origin: scheme://host[:port], no path, lower case (like https://app.example.com)`)
  }
  return url.origin
}

export function normalizeOrigins (values: readonly string[]): string[] {
  if (values.length > MAX_ORIGINS) throw gwError('GW_ERR_VALIDATION', `At most ${MAX_ORIGINS} allowed origins`)
  return [...new Set(values.map(normalizeOrigin))]
}

export class Origins {
  private readonly byTenant: TtlCache<ReadonlySet<string>>
  private readonly any: TtlCache<ReadonlySet<string>>

  constructor (private readonly prisma: Db, ttlMs: number) {
    const ttl = Math.max(ttlMs, 1000)
    this.byTenant = new TtlCache(ttl, 50_000)
    this.any = new TtlCache(ttl, 1)
  }

  async allowedFor (tenantId: string, origin: string): Promise<boolean> {
    const set = await this.byTenant.load(tenantId, async () => {
      const row = await this.prisma.tenant.findUnique({ where: { id: tenantId }, select: { allowedOrigins: true } })
      return new Set(row?.allowedOrigins ?? [])
    })
    return set.has(origin)
  }

  async allowedByAny (origin: string): Promise<boolean> {
    const set = await this.any.load('all', async () => {
      const rows = await this.prisma.tenant.findMany({ where: { allowedOrigins: { isEmpty: false } }, select: { allowedOrigins: true } })
      return new Set(rows.flatMap(r => r.allowedOrigins))
    })
    return set.has(origin)
  }

  /** A tenant's origins changed (here or on another instance). */
  forget (tenantId: string): void {
    this.byTenant.delete(tenantId)
    this.any.clear()
  }
}
