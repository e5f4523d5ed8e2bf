// Gauges an on-call engineer reads off /metrics: the token pool by state, the anonymous mints
// left in the 7-day window, sessions, running turns, exports by status, the webhook backlog.
// They are read from Postgres when /metrics is scraped (a few grouped counts), at most once per
// GAUGE_TTL_MS however often it is scraped, so every instance reports the shared truth.
import { metrics, type BatchObservableCallback, type ObservableGauge } from '@opentelemetry/api'
import { EGRESS, MINT_WINDOW_MS } from './credential-state.ts'
import type { Db } from '../common/index.ts'
import { $Enums } from '../../generated/prisma/client.ts'

const GAUGE_TTL_MS = 5000

interface Reading {
  tokens: Array<{ mode: string, kind: string, state: string, n: number }>
  mintsUsed: Array<{ egress: string, n: number }>
  sessions: number
  runningTurns: number
  exports: Array<{ status: string, n: number }>
  webhookPending: number
  webhookOldestPendingSeconds: number
}

async function read (prisma: Db): Promise<Reading> {
  const since = new Date(Date.now() - MINT_WINDOW_MS)
  const [tokens, mints, sessions, runningTurns, exports, pending, oldest] = await Promise.all([
    prisma.$queryRaw<Array<{ mode: string, kind: string, state: string, n: bigint }>>`
      SELECT t."tokenMode"::text AS mode, c.kind::text AS kind, c.state::text AS state, count(*) AS n
      FROM "Credential" c JOIN "Tenant" t ON t.id = c."tenantId" GROUP BY 1, 2, 3`,
    prisma.mintLedger.groupBy({ by: ['egressIp'], where: { outcome: 'minted', createdAt: { gt: since } }, _count: { _all: true } }),
    prisma.session.count(),
    prisma.turn.count({ where: { status: 'running' } }),
    prisma.export.groupBy({ by: ['status'], _count: { _all: true } }),
    prisma.webhookMessage.count({ where: { status: 'pending' } }),
    prisma.webhookMessage.findFirst({ where: { status: 'pending' }, orderBy: { createdAt: 'asc' }, select: { createdAt: true } })
  ])
  return {
    tokens: tokens.map((r) => ({ ...r, n: Number(r.n) })),
    mintsUsed: mints.map((m) => ({ egress: m.egressIp, n: m._count._all })),
    sessions,
    runningTurns,
    exports: exports.map((e) => ({ status: e.status, n: e._count._all })),
    webhookPending: pending,
    webhookOldestPendingSeconds: oldest === null ? 0 : Math.max(0, (Date.now() - oldest.createdAt.getTime()) / 1000)
  }
}

/** Registers the gauges; the returned function unregisters them (on close). */
export function registerGauges (prisma: Db, opts: { mintLimitPerIp: number, onError: (err: unknown) => void }): () => void {
  const meter = metrics.getMeter('nemo-gateway')
  const g = {
    tokens: meter.createObservableGauge('gateway.upstream_tokens', { description: 'Upstream tokens in the pool, by tenant mode, kind and state' }),
    mintsLeft: meter.createObservableGauge('gateway.anonymous_mints_left', { description: 'Anonymous mints the gateway still allows itself in the 7-day window, per egress IP' }),
    sessions: meter.createObservableGauge('gateway.sessions', { description: 'Editing sessions' }),
    runningTurns: meter.createObservableGauge('gateway.turns.running', { description: 'Chat turns running now' }),
    exports: meter.createObservableGauge('gateway.exports.current', { description: 'Exports, by status' }),
    webhookPending: meter.createObservableGauge('gateway.webhook.queue_depth', { description: 'Webhook messages waiting for delivery' }),
    webhookOldest: meter.createObservableGauge('gateway.webhook.oldest_pending_age', { description: 'Age of the oldest undelivered webhook message', unit: 's' })
  } satisfies Record<string, ObservableGauge>
  let cached: { at: number, reading: Promise<Reading> } | undefined
  const callback: BatchObservableCallback = async (result) => {
    if (cached === undefined || Date.now() - cached.at > GAUGE_TTL_MS) cached = { at: Date.now(), reading: read(prisma) }
    let r: Reading
    try {
      r = await cached.reading
    } catch (err) {
      cached = undefined
      opts.onError(err)
      return
    }
    for (const t of r.tokens) result.observe(g.tokens, t.n, { tenant_mode: t.mode, kind: t.kind, state: t.state })
    const used = new Map(r.mintsUsed.map((m) => [m.egress, m.n]))
    if (!used.has(EGRESS)) used.set(EGRESS, 0)
    for (const [egress, n] of used) result.observe(g.mintsLeft, Math.max(0, opts.mintLimitPerIp - n), { egress_ip: egress })
    result.observe(g.sessions, r.sessions)
    result.observe(g.runningTurns, r.runningTurns)
    const exports = new Map<string, number>(Object.values($Enums.ExportStatus).map((status) => [status, 0]))
    for (const e of r.exports) exports.set(e.status, e.n)
    for (const [status, n] of exports) result.observe(g.exports, n, { status })
    result.observe(g.webhookPending, r.webhookPending)
    result.observe(g.webhookOldest, r.webhookOldestPendingSeconds)
  }
  const all = Object.values(g)
  meter.addBatchObservableCallback(callback, all)
  return () => meter.removeBatchObservableCallback(callback, all)
}
