// Pruning: what the gateway has kept long enough is deleted in small batches, each one short
// statement on the shared pool (at most RETENTION_BATCH_SIZE rows, chosen by primary key with
// SKIP LOCKED, so a pass never waits on a row someone is writing and never holds a lock for
// long). Children go before their parents (a webhook message's attempts in the same statement
// as the message), and what still runs is never touched: a pending webhook message, a running
// turn, an active export, the log of a session that has one. Every deleted row is counted in
// `gateway_retention_deleted_rows{table}`.
import type { DomainDeps } from '../common/index.ts'
import type { Exports } from '../exports/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'

/** The tables a pass prunes (the names of the data model). */
const PRUNED_TABLES = ['SessionEvent', 'Turn', 'Export', 'WebhookMessage', 'WebhookAttempt', 'IdempotencyRecord', 'MintLedger', 'PortalSession'] as const
export type PrunedTable = typeof PRUNED_TABLES[number]

export interface PruneReport {
  /** true: nothing was deleted; `deleted` counts what a pass would delete now. */
  dryRun: boolean
  deleted: Record<PrunedTable, number>
  /** Statements that deleted (or, for the event log, looked at) one batch. */
  batches: number
  ms: number
}

/**
 * The queue of the pruning job: at most one pass waits and one runs (`stately`), and a pass is
 * never retried (the next one picks up where it stopped). A pass killed with its instance
 * holds the queue until it expires.
 */
export const RETENTION_QUEUE = 'retention-prune'
export const RETENTION_QUEUE_OPTIONS = { name: RETENTION_QUEUE, policy: 'stately', retryLimit: 0, expireInSeconds: 3600 } as const

/** Finished exports (the table's words): only these are ever pruned. */
const FINISHED_EXPORT = 'status IN (\'completed\', \'failed\', \'canceled\')'
const DAY_MS = 24 * 3600_000

/**
 * A session is idle when nothing of it still runs and its newest event is older than the
 * cutoff ($1): only then does its log go, whole (a live session's log stays replayable).
 */
const idle = (session: string) => `
  NOT EXISTS (SELECT 1 FROM "Turn" t WHERE t."sessionId" = ${session} AND t.status = 'running')
  AND NOT EXISTS (SELECT 1 FROM "Export" x WHERE x."sessionId" = ${session} AND x.status IN ('queued', 'pending', 'processing'))
  AND (SELECT n."createdAt" FROM "SessionEvent" n WHERE n."sessionId" = ${session} ORDER BY n.cursor DESC LIMIT 1) < $1`

/** Per table: which rows are due, as a WHERE clause over the table with the cutoff as $1. */
const DUE = {
  Turn: 'status <> \'running\' AND coalesce("finishedAt", "startedAt") < $1',
  Export: `${FINISHED_EXPORT} AND coalesce("completedAt", "updatedAt") < $1`,
  // a replay in flight holds the message's lease
  WebhookMessage: 'status IN (\'delivered\', \'failed\') AND "createdAt" < $1 AND ("lockedUntil" IS NULL OR "lockedUntil" < now())',
  IdempotencyRecord: '"expiresAt" < $1',
  MintLedger: '"createdAt" < $1',
  // a portal link's row is what refuses it by name (revoked, expired): kept a day past its expiry
  PortalSession: '"expiresAt" < $1'
} as const

export class Retention {
  constructor (private readonly deps: DomainDeps, private readonly exports: Exports) {}

  /** One pass over every table with an age; with `dryRun`, counts what it would delete. */
  async prune (opts: { dryRun?: boolean } = {}): Promise<PruneReport> {
    const started = performance.now()
    const dryRun = opts.dryRun === true
    const deleted = Object.fromEntries(PRUNED_TABLES.map((t) => [t, 0])) as Record<PrunedTable, number>
    const report: PruneReport = { dryRun, deleted, batches: 0, ms: 0 }
    const { config } = this.deps
    const now = Date.now()
    const cutoff = (days: number) => days > 0 ? new Date(now - days * DAY_MS) : null

    // the event log first: it is the largest, and its rule reads turns and exports as they are
    const events = cutoff(config.RETENTION_EVENTS_DAYS)
    if (events) await (dryRun ? this.count(report, 'SessionEvent', events) : this.pruneEvents(report, events))
    const turns = cutoff(config.RETENTION_TURNS_DAYS)
    if (turns) await (dryRun ? this.count(report, 'Turn', turns) : this.pruneTurns(report, turns))
    const exports = cutoff(config.RETENTION_EXPORTS_DAYS)
    if (exports) await (dryRun ? this.count(report, 'Export', exports) : this.pruneExports(report, exports))
    const messages = cutoff(config.RETENTION_WEBHOOK_MESSAGES_DAYS)
    if (messages) await (dryRun ? this.countMessages(report, messages) : this.pruneMessages(report, messages))
    // an idempotency record carries its own expiry (IDEMPOTENCY_TTL_HOURS when it was made)
    const expired = new Date(now)
    await (dryRun ? this.count(report, 'IdempotencyRecord', expired) : this.pruneIdempotency(report, expired))
    const mints = cutoff(config.RETENTION_MINT_LEDGER_DAYS)
    if (mints) await (dryRun ? this.count(report, 'MintLedger', mints) : this.pruneMints(report, mints))
    const links = new Date(now - DAY_MS)
    await (dryRun ? this.count(report, 'PortalSession', links) : this.pruneLinks(report, links))

    report.ms = Math.round(performance.now() - started)
    return report
  }

  /**
   * Deletes these exports, if they are still finished, and answers the ids it deleted. Every
   * export the retention job removes goes through here: its archived file goes first, so no
   * file outlives its row (a pass that fails in between deletes the rest next time).
   */
  async deleteExports (ids: string[]): Promise<string[]> {
    if (ids.length === 0) return []
    await this.exports.removeArchivedFiles(ids)
    const rows = await this.deps.sql.rows<{ id: string }>(
      `DELETE FROM "Export" WHERE id = ANY($1::uuid[]) AND ${FINISHED_EXPORT} RETURNING id`, [ids])
    return rows.map((r) => r.id)
  }

  private get batchSize (): number { return this.deps.config.RETENTION_BATCH_SIZE }

  private counted (report: PruneReport, table: PrunedTable, n: number): void {
    report.deleted[table] += n
    if (!report.dryRun && n > 0) domainMetrics().retentionDeleted.add(n, { table })
  }

  /** Runs `batch` until one deletes less than a full batch. */
  private async drain (report: PruneReport, table: PrunedTable, batch: () => Promise<number>): Promise<void> {
    for (;;) {
      const n = await batch()
      report.batches++
      this.counted(report, table, n)
      if (n < this.batchSize) return
    }
  }

  private async deleteCount (text: string, values: unknown[]): Promise<number> {
    const [row] = await this.deps.sql.rows<{ n: number }>(`WITH d AS (${text} RETURNING 1) SELECT count(*)::int AS n FROM d`, values)
    return row?.n ?? 0
  }

  /**
   * The log is walked by cursor, one window of a batch at a time; in each window the events
   * of idle sessions go. The walk stops at the first window that reaches events younger than
   * the cutoff (cursors grow with time), so a pass reads the old part of the log once.
   */
  private async pruneEvents (report: PruneReport, cutoff: Date): Promise<void> {
    let after = '0'
    for (;;) {
      const [row] = await this.deps.sql.rows<{ n: number, last: string | null, newest: Date | null }>(`
        WITH win AS (SELECT cursor, "sessionId", "createdAt" FROM "SessionEvent" WHERE cursor > $2::bigint ORDER BY cursor LIMIT $3),
        idle AS (SELECT s."sessionId" FROM (SELECT DISTINCT "sessionId" FROM win) s WHERE ${idle('s."sessionId"')}),
        d AS (
          DELETE FROM "SessionEvent" WHERE cursor IN (
            SELECT e.cursor FROM "SessionEvent" e JOIN win w ON w.cursor = e.cursor
            WHERE w."createdAt" < $1 AND w."sessionId" IN (SELECT "sessionId" FROM idle)
            FOR UPDATE OF e SKIP LOCKED)
          RETURNING 1)
        SELECT (SELECT count(*) FROM d)::int AS n, (SELECT max(cursor) FROM win)::text AS last, (SELECT max("createdAt") FROM win) AS newest`,
      [cutoff, after, this.batchSize])
      if (row === undefined || row.last === null) return
      report.batches++
      this.counted(report, 'SessionEvent', row.n)
      if (row.newest !== null && row.newest >= cutoff) return
      after = row.last
    }
  }

  private async pruneTurns (report: PruneReport, cutoff: Date): Promise<void> {
    await this.drain(report, 'Turn', async () => await this.deleteCount(
      `DELETE FROM "Turn" WHERE id IN (SELECT id FROM "Turn" WHERE ${DUE.Turn} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, this.batchSize]))
  }

  private async pruneExports (report: PruneReport, cutoff: Date): Promise<void> {
    for (;;) {
      const due = await this.deps.sql.rows<{ id: string }>(`SELECT id FROM "Export" WHERE ${DUE.Export} LIMIT $2`, [cutoff, this.batchSize])
      const gone = await this.deleteExports(due.map((r) => r.id))
      report.batches++
      this.counted(report, 'Export', gone.length)
      if (due.length < this.batchSize) return
    }
  }

  private async pruneMessages (report: PruneReport, cutoff: Date): Promise<void> {
    for (;;) {
      const [row] = await this.deps.sql.rows<{ messages: number, attempts: number }>(`
        WITH m AS (SELECT id FROM "WebhookMessage" WHERE ${DUE.WebhookMessage} LIMIT $2 FOR UPDATE SKIP LOCKED),
        a AS (DELETE FROM "WebhookAttempt" WHERE "messageId" IN (SELECT id FROM m) RETURNING 1),
        d AS (DELETE FROM "WebhookMessage" WHERE id IN (SELECT id FROM m) RETURNING 1)
        SELECT (SELECT count(*) FROM d)::int AS messages, (SELECT count(*) FROM a)::int AS attempts`,
      [cutoff, this.batchSize])
      report.batches++
      this.counted(report, 'WebhookAttempt', row?.attempts ?? 0)
      this.counted(report, 'WebhookMessage', row?.messages ?? 0)
      if ((row?.messages ?? 0) < this.batchSize) return
    }
  }

  private async pruneIdempotency (report: PruneReport, cutoff: Date): Promise<void> {
    await this.drain(report, 'IdempotencyRecord', async () => await this.deleteCount(
      `DELETE FROM "IdempotencyRecord" WHERE ("tenantId", "key", "route") IN (
         SELECT "tenantId", "key", "route" FROM "IdempotencyRecord" WHERE ${DUE.IdempotencyRecord} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, this.batchSize]))
  }

  private async pruneMints (report: PruneReport, cutoff: Date): Promise<void> {
    await this.drain(report, 'MintLedger', async () => await this.deleteCount(
      `DELETE FROM "MintLedger" WHERE id IN (SELECT id FROM "MintLedger" WHERE ${DUE.MintLedger} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, this.batchSize]))
  }

  private async pruneLinks (report: PruneReport, cutoff: Date): Promise<void> {
    await this.drain(report, 'PortalSession', async () => await this.deleteCount(
      `DELETE FROM "PortalSession" WHERE id IN (SELECT id FROM "PortalSession" WHERE ${DUE.PortalSession} LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [cutoff, this.batchSize]))
  }

  private async count (report: PruneReport, table: Exclude<PrunedTable, 'WebhookAttempt' | 'WebhookMessage'>, cutoff: Date): Promise<void> {
    const where = table === 'SessionEvent' ? `e."createdAt" < $1 AND ${idle('e."sessionId"')}` : DUE[table]
    const [row] = await this.deps.sql.rows<{ n: number }>(`SELECT count(*)::int AS n FROM "${table}" e WHERE ${where}`, [cutoff])
    this.counted(report, table, row?.n ?? 0)
  }

  private async countMessages (report: PruneReport, cutoff: Date): Promise<void> {
    const [row] = await this.deps.sql.rows<{ messages: number, attempts: number }>(`
      SELECT count(*)::int AS messages, coalesce(sum((SELECT count(*) FROM "WebhookAttempt" a WHERE a."messageId" = m.id)), 0)::int AS attempts
      FROM "WebhookMessage" m WHERE ${DUE.WebhookMessage}`, [cutoff])
    this.counted(report, 'WebhookMessage', row?.messages ?? 0)
    this.counted(report, 'WebhookAttempt', row?.attempts ?? 0)
  }
}
