// The poller: one poll of one export per durable job (pg-boss), under a lease on the row so
// one instance polls a render at a time. A queued row whose submitter is gone is resolved by
// asking the upstream about its render id; a rendering one is read, and finished, moved on,
// or submitted again (a failed or lost render, a token that died). The reconciler re-arms
// polls that lost their job (a crash between a poll and the next job's scheduling).
import type { Export as ExportRow } from '../../generated/prisma/client.ts'
import { isNemoError, type NemoError } from '../../nemo/errors.ts'
import type { Credentials, Lease } from '../tokens/index.ts'
import { RateLimiter, type DomainDeps } from '../common/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import { annotateSpan, inSpan, linkSpan } from '../../observability/tracing.ts'
import { ACTIVE, authOf, POLL_CALL_MS, POLL_LEASE_MS } from './model.ts'
import type { RenderJobs } from './render-jobs.ts'
import type { SessionEvents } from '../events/index.ts'

export class ExportPoller {
  private readonly limiter: RateLimiter

  constructor (
    private readonly deps: DomainDeps,
    private readonly jobs: RenderJobs,
    private readonly credentials: Credentials,
    private readonly events: SessionEvents
  ) {
    this.limiter = new RateLimiter(deps.config.EXPORT_POLL_RATE)
  }

  /**
   * One poll of one export (the job handler). Returns when the next poll is due, or null when
   * the export needs no more polls (finished, or another instance holds its lease).
   */
  async poll (id: string): Promise<number | null> {
    return await inSpan('export.poll', { 'nemo.export.id': id }, async () => await this.pollTraced(id))
  }

  private async pollTraced (id: string): Promise<number | null> {
    const { prisma } = this.deps
    // the rate limit is waited out before the lease is taken: a queue of polls must not
    // hold leases (another instance would think them abandoned)
    await this.limiter.take()
    const now = new Date()
    const claimed = await prisma.export.updateMany({
      where: { id, status: { in: ACTIVE }, OR: [{ pollLockedUntil: null }, { pollLockedUntil: { lt: now } }] },
      data: { pollLockedUntil: new Date(now.getTime() + Math.max(POLL_LEASE_MS, this.jobs.submitLeaseMs())) }
    })
    if (claimed.count === 0) {
      // finished, or leased: then look again when the lease ends, in case its holder died
      const held = await prisma.export.findUnique({ where: { id }, select: { status: true, pollLockedUntil: true } })
      if (held === null || !ACTIVE.includes(held.status) || held.pollLockedUntil === null) return null
      return Math.max(0, held.pollLockedUntil.getTime() - Date.now()) + 250
    }
    const row = await prisma.export.findUniqueOrThrow({ where: { id } })
    annotateSpan({ 'nemo.tenant.id': row.tenantId, 'nemo.session.id': row.sessionId, 'nemo.render.id': row.renderId ?? '' })
    linkSpan(row.traceparent)
    try {
      const next = row.status === 'queued' ? await this.resolveSubmit(row) : await this.pollClaimed(row)
      if (next !== null) {
        await prisma.export.updateMany({ where: { id, status: { in: ACTIVE } }, data: { pollLockedUntil: null, polls: { increment: 1 }, nextPollAt: new Date(Date.now() + next) } })
      }
      return next
    } catch (err) {
      await prisma.export.updateMany({ where: { id, status: { in: ACTIVE } }, data: { pollLockedUntil: null } }).catch(() => {})
      throw err
    }
  }

  /**
   * A queued row whose submitter is gone (a crash, a submit that got no answer): the upstream
   * is asked about the stored render id. Known: the submit went through, polling starts.
   * Unknown: it is submitted again with the same id, with the user's current token.
   */
  private async resolveSubmit (row: ExportRow): Promise<number | null> {
    if (row.deadlineAt.getTime() <= Date.now()) {
      await this.jobs.finish(row, await this.jobs.cancelUpstream(row, { status: 'failed', error: { reason: 'interrupted', message: 'The render could not be submitted before the deadline', retryable: true } }))
      return null
    }
    const lease = await this.credentials.leaseInAnyState(row.credentialId)
    if (lease && row.renderId !== null) {
      try {
        await this.deps.nemo.getRender(authOf(lease), row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
        this.deps.log.info({ exportId: row.id, renderId: row.renderId }, 'an interrupted render submit had reached the upstream; polling it')
        await this.jobs.accepted(row, { renderId: row.renderId, credentialId: row.credentialId })
        return this.deps.config.EXPORT_POLL_INITIAL_MS
      } catch (err) {
        const gone = isNemoError(err) && (err.httpStatus === 404 || err.kind === 'token_invalid')
        if (!gone) {
          this.deps.log.warn({ err, exportId: row.id }, 'could not ask the upstream about an interrupted render submit; will ask again')
          return this.jobs.backoff(row.polls)
        }
      }
    }
    this.deps.log.info({ exportId: row.id, renderId: row.renderId }, 'an interrupted render submit never reached the upstream; submitting it again')
    return await this.jobs.submitAgain(row)
  }

  private async pollClaimed (row: ExportRow): Promise<number | null> {
    const { prisma, nemo } = this.deps
    if (row.deadlineAt.getTime() <= Date.now()) {
      await this.jobs.finish(row, await this.jobs.cancelUpstream(row, { status: 'failed', error: { reason: 'deadline', message: 'The render did not finish in time', retryable: true } }))
      return null
    }
    const lease = await this.credentials.leaseInAnyState(row.credentialId)
    if (!lease || row.renderId === null) {
      return await this.jobs.resubmit(row, { reason: 'upstream_auth', message: 'The token that submitted the render is no longer usable', retryable: true })
    }
    let status
    try {
      status = await nemo.getRender(authOf(lease), row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
      domainMetrics().renderPolls.add(1, { outcome: status.status })
    } catch (err) {
      domainMetrics().renderPolls.add(1, { outcome: isNemoError(err) ? err.kind : 'error' })
      if (isNemoError(err) && err.httpStatus === 404) {
        return await this.jobs.resubmit(row, { reason: 'lost', message: 'The upstream no longer knows the render', retryable: true })
      }
      if (isNemoError(err, 'token_invalid') || isNemoError(err, 'credits_exhausted')) {
        return await this.pollProblem(row, lease, err)
      }
      // the upstream is down, slow or throttling: ask again later
      this.deps.log.warn({ err, exportId: row.id }, 'render poll failed; will poll again')
      const wait = isNemoError(err, 'rate_limited') && err.retryAfterSec !== undefined ? err.retryAfterSec * 1000 : 0
      return Math.max(wait, this.jobs.backoff(row.polls))
    }
    if (status.status === 'completed') {
      await this.jobs.finish(row, { status: 'completed', outputUrl: status.outputUrl ?? null })
      return null
    }
    if (status.status === 'canceled') {
      await this.jobs.finish(row, { status: 'canceled' })
      return null
    }
    if (status.status === 'failed') {
      const invalid = /invalid draft/i.test(status.error ?? '')
      return await this.jobs.resubmit(row, { reason: 'render_failed', message: status.error ?? 'The render failed', retryable: !invalid })
    }
    const progress = Math.max(row.progress, Math.min(99, Math.round(status.progress)))
    const dbStatus = status.status === 'pending' ? 'pending' : 'processing'
    if (progress !== row.progress || dbStatus !== row.status || row.pollProblems > 0) {
      // guarded: a cancel that lands while this poll is in flight must not be overwritten
      const { count } = await prisma.export.updateMany({ where: { id: row.id, status: { in: ['pending', 'processing'] } }, data: { progress, status: dbStatus, pollProblems: 0 } })
      // one event per poll at most, and only when something moved: progress is coalesced
      if (count > 0 && progress !== row.progress) await this.events.append(row.sessionId, 'export.progress', { exportId: row.id, status: 'rendering', progress })
    }
    return this.jobs.backoff(row.polls)
  }

  /**
   * A poll the upstream answered with 1001 or 2001. A 1001 that re-verification confirms
   * (the token is gone) resubmits the render with the user's current token; otherwise the
   * poll is repeated a bounded number of times, then the export gets a clear outcome.
   */
  private async pollProblem (row: ExportRow, lease: Lease, err: NemoError): Promise<number | null> {
    const verdict = await this.credentials.noteFailure(lease, err)
    if (err.kind === 'token_invalid' && verdict === 'other') {
      return await this.jobs.resubmit(row, { reason: 'upstream_auth', message: 'The upstream no longer accepts the token that submitted the render (expired or revoked)', retryable: true })
    }
    const problems = row.pollProblems + 1
    if (problems < this.deps.config.EXPORT_POLL_RECHECKS) {
      await this.deps.prisma.export.updateMany({ where: { id: row.id, status: { in: ['pending', 'processing'] } }, data: { pollProblems: problems } })
      this.deps.log.warn({ exportId: row.id, kind: err.kind, problems }, 'render poll could not read the render; will check again')
      return this.jobs.backoff(row.polls)
    }
    if (err.kind === 'token_invalid') {
      // the upstream keeps refusing the token on this render although it accepts it elsewhere
      return await this.jobs.resubmit(row, { reason: 'upstream_auth', message: `The upstream refused the render's token on ${problems} polls in a row`, retryable: true })
    }
    await this.jobs.finish(row, await this.jobs.cancelUpstream(row, {
      status: 'failed',
      error: { reason: 'credits_exhausted', message: `The upstream answered "credits used up" (2001) on ${problems} polls in a row; top up or register the account, then export again`, retryable: true }
    }))
    return null
  }

  /**
   * Exports that should be polling but have no waiting job (a crash between a poll and
   * the next job's scheduling, a restart): scheduled again. One waiting job per export is
   * kept by the queue, so this is safe to run on every instance at any time.
   */
  async reconcile (): Promise<number> {
    // queued rows too: a submit cut off by a crash is resolved once its lease lapses
    const rows = await this.deps.prisma.export.findMany({
      where: { status: { in: ACTIVE } },
      select: { id: true, nextPollAt: true, pollLockedUntil: true }
    })
    for (const r of rows) {
      const due = Math.max(r.nextPollAt?.getTime() ?? 0, r.pollLockedUntil?.getTime() ?? 0)
      await this.jobs.schedule(r.id, Math.max(0, due - Date.now()))
    }
    return rows.length
  }
}
