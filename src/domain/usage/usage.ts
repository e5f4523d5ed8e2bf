// Usage counters: every action adds to its tenant's, user's and UTC day's row (an upsert of
// increments), in the action's own transaction where it has one, else right after its write.
// A read sums rows: a month of a tenant with a thousand users is a thousand rows at most per
// day, never a scan of the event log.
import type { Prisma } from '../../generated/prisma/client.ts'
import { gwError } from '../../errors.ts'
import type { UsageQuery, UsageRow, UsageView } from '../../schemas/usage.ts'
import type { Actor, Db } from '../common/index.ts'

/** The user of what belongs to the tenant as a whole (webhook deliveries). */
/** The user of what belongs to the tenant as a whole (webhook deliveries, a tenant-wide action). */
export const NO_USER = '00000000-0000-0000-0000-000000000000'

export interface UsageCounts {
  creditsSpent?: number
  turns?: number
  uploads?: number
  uploadBytes?: number
  exportsCompleted?: number
  exportsFailed?: number
  exportsCanceled?: number
  webhooksDelivered?: number
  webhooksFailed?: number
}

const MAX_DAYS = 366
const DAY_MS = 86_400_000
const utcDay = (at: Date): string => at.toISOString().slice(0, 10)

/**
 * Adds to the counters of (tenant, user, today). Lazy like every Prisma query: await it, or
 * pass it to `$transaction([...])` with the action's own writes; `db` may be a transaction.
 */
export function addUsage (db: Db | Prisma.TransactionClient, who: { tenantId: string, userId: string | null }, c: UsageCounts, at = new Date()): Prisma.PrismaPromise<number> {
  const n = (v: number | undefined) => Math.max(0, Math.trunc(v ?? 0))
  return db.$executeRaw`
    INSERT INTO "UsageDaily" ("tenantId", "userId", "day", "creditsSpent", "turns", "uploads", "uploadBytes",
      "exportsCompleted", "exportsFailed", "exportsCanceled", "webhooksDelivered", "webhooksFailed")
    VALUES (${who.tenantId}::uuid, ${who.userId ?? NO_USER}::uuid, ${utcDay(at)}::date, ${n(c.creditsSpent)}, ${n(c.turns)}, ${n(c.uploads)},
      ${BigInt(n(c.uploadBytes))}, ${n(c.exportsCompleted)}, ${n(c.exportsFailed)}, ${n(c.exportsCanceled)}, ${n(c.webhooksDelivered)}, ${n(c.webhooksFailed)})
    ON CONFLICT ("tenantId", "day", "userId") DO UPDATE SET
      "creditsSpent" = "UsageDaily"."creditsSpent" + EXCLUDED."creditsSpent",
      "turns" = "UsageDaily"."turns" + EXCLUDED."turns",
      "uploads" = "UsageDaily"."uploads" + EXCLUDED."uploads",
      "uploadBytes" = "UsageDaily"."uploadBytes" + EXCLUDED."uploadBytes",
      "exportsCompleted" = "UsageDaily"."exportsCompleted" + EXCLUDED."exportsCompleted",
      "exportsFailed" = "UsageDaily"."exportsFailed" + EXCLUDED."exportsFailed",
      "exportsCanceled" = "UsageDaily"."exportsCanceled" + EXCLUDED."exportsCanceled",
      "webhooksDelivered" = "UsageDaily"."webhooksDelivered" + EXCLUDED."webhooksDelivered",
      "webhooksFailed" = "UsageDaily"."webhooksFailed" + EXCLUDED."webhooksFailed"`
}

interface SumRow {
  key: string | null
  creditsSpent: bigint
  turns: bigint
  uploads: bigint
  uploadBytes: bigint
  exportsCompleted: bigint
  exportsFailed: bigint
  exportsCanceled: bigint
  webhooksDelivered: bigint
  webhooksFailed: bigint
}

function counts (r: SumRow): Omit<UsageRow, 'day' | 'userId'> {
  return {
    creditsSpent: Number(r.creditsSpent),
    turns: Number(r.turns),
    uploads: { count: Number(r.uploads), bytes: Number(r.uploadBytes) },
    exports: { completed: Number(r.exportsCompleted), failed: Number(r.exportsFailed), cancelled: Number(r.exportsCanceled) },
    webhookDeliveries: { delivered: Number(r.webhooksDelivered), failed: Number(r.webhooksFailed) }
  }
}

/** The range asked for, checked: both ends valid days, in order, at most MAX_DAYS long. */
function range (q: UsageQuery, now: Date): { from: string, to: string } {
  const parse = (name: string, v: string): number => {
    const t = Date.parse(`${v}T00:00:00Z`)
    if (!/^\d{4}-\d{2}-\d{2}$/.test(v) || Number.isNaN(t) || utcDay(new Date(t)) !== v) {
      throw gwError('GW_ERR_VALIDATION', `${name} must be a day as YYYY-MM-DD`, { extensions: { errors: [{ in: 'query', path: `/${name}`, message: 'must be a date (YYYY-MM-DD)' }] } })
    }
    return t
  }
  const to = q.to === undefined ? Date.parse(`${utcDay(now)}T00:00:00Z`) : parse('to', q.to)
  const from = q.from === undefined ? to - 29 * DAY_MS : parse('from', q.from)
  if (from > to) throw gwError('GW_ERR_VALIDATION', `from (${utcDay(new Date(from))}) is after to (${utcDay(new Date(to))})`, { extensions: { errors: [{ in: 'query', path: '/from', message: 'must not be after to' }] } })
  if ((to - from) / DAY_MS + 1 > MAX_DAYS) throw gwError('GW_ERR_VALIDATION', `Ask for at most ${MAX_DAYS} days at a time`, { extensions: { errors: [{ in: 'query', path: '/from', message: `must be at most ${MAX_DAYS - 1} days before to` }] } })
  return { from: utcDay(new Date(from)), to: utcDay(new Date(to)) }
}

export class Usage {
  /** `settled`: waits for the tenant's charges still being counted on this instance (a turn's is counted after its end is told). */
  constructor (private readonly prisma: Db, private readonly settled: (tenantId: string) => Promise<void> = async () => {}) {}

  /** The internal id of a tenant's end user, by the tenant's own id for them; never creates one. */
  async userOf (tenantId: string, externalId: string): Promise<string | null> {
    const row = await this.prisma.user.findUnique({ where: { tenantId_externalId: { tenantId, externalId } }, select: { id: true } })
    return row?.id ?? null
  }

  /**
   * The usage of the actor's user, or of the whole tenant for an actor with no user
   * (`userId` ''): a tenant-wide call. Another tenant's rows are never read.
   */
  async report (actor: Actor & { externalUserId?: string }, q: UsageQuery, now = new Date()): Promise<UsageView> {
    const { from, to } = range(q, now)
    const groupBy = q.groupBy ?? 'day'
    await this.settled(actor.tenantId)
    const user = actor.userId === '' ? null : actor.userId
    const rows = await this.prisma.$queryRaw<SumRow[]>`
      SELECT
        CASE WHEN ${groupBy}::text = 'day' THEN to_char(d."day", 'YYYY-MM-DD') ELSE u."externalId" END AS key,
        sum(d."creditsSpent") AS "creditsSpent", sum(d."turns") AS "turns", sum(d."uploads") AS "uploads",
        sum(d."uploadBytes") AS "uploadBytes", sum(d."exportsCompleted") AS "exportsCompleted",
        sum(d."exportsFailed") AS "exportsFailed", sum(d."exportsCanceled") AS "exportsCanceled",
        sum(d."webhooksDelivered") AS "webhooksDelivered", sum(d."webhooksFailed") AS "webhooksFailed"
      FROM "UsageDaily" d LEFT JOIN "User" u ON u.id = d."userId" AND u."tenantId" = d."tenantId"
      WHERE d."tenantId" = ${actor.tenantId}::uuid
        AND (${user}::uuid IS NULL OR d."userId" = ${user}::uuid)
        AND d."day" BETWEEN ${from}::date AND ${to}::date
      GROUP BY 1
      ORDER BY 1 NULLS LAST`
    const out: UsageRow[] = rows.map((r) => groupBy === 'day' ? { day: r.key!, ...counts(r) } : { userId: r.key, ...counts(r) })
    const zero: SumRow = { key: null, creditsSpent: 0n, turns: 0n, uploads: 0n, uploadBytes: 0n, exportsCompleted: 0n, exportsFailed: 0n, exportsCanceled: 0n, webhooksDelivered: 0n, webhooksFailed: 0n }
    const total = rows.reduce<SumRow>((acc, r) => {
      for (const k of Object.keys(zero) as Array<keyof SumRow>) if (k !== 'key') acc[k] = (acc[k] as bigint) + BigInt(r[k] as bigint)
      return acc
    }, { ...zero })
    return { scope: user === null ? 'tenant' : 'user', userId: user === null ? null : actor.externalUserId ?? null, from, to, groupBy, totals: counts(total), rows: out }
  }
}
