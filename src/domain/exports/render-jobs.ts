// Render jobs: what the request side and the poller both do to a render. Submit (the row
// holds the render id, the draft and the token before the upstream hears of it), accept
// (queued -> rendering with its event, in one transaction), submit again (a failed, lost or
// orphaned render), cancel upstream (the upstream's answer decides), and finish: the final
// status, its event and its webhook messages in one transaction (the outbox).
import type { Export as ExportRow, Prisma } from '../../generated/prisma/client.ts'
import { isGatewayError } from '../../errors.ts'
import { NemoError } from '../../nemo/errors.ts'
import type { Credentials, Credits, Lease } from '../tokens/index.ts'
import { addUsage, type UsageCounts } from '../usage/index.ts'
import type { DomainDeps } from '../common/index.ts'
import type { SessionEvents } from '../events/index.ts'
import type { Sessions } from '../sessions/index.ts'
import type { Webhooks } from '../webhooks/index.ts'
import type { OutputArchive } from './output-archive.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import {
  ACTIVE, authOf, EXPORT_POLL_QUEUE, exportView, isAmbiguous, isDuplicateId, MAX_ATTEMPTS, MAX_TOKEN_RESUBMITS, POLL_CALL_MS,
  renderIdFor, statusOf, SUBMIT_LEASE_MARGIN_MS, type ExportError, type ExportOptions, type ExportView, type Final
} from './model.ts'

/** The usage counter an export's end adds to, by its final status. */
const ENDED: Record<Final['status'], UsageCounts> = {
  completed: { exportsCompleted: 1 },
  failed: { exportsFailed: 1 },
  canceled: { exportsCanceled: 1 }
}

export class RenderJobs {
  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly credentials: Credentials,
    private readonly events: SessionEvents,
    private readonly webhooks: Webhooks,
    private readonly archive: OutputArchive,
    private readonly credits: Credits
  ) {}

  view (row: ExportRow): ExportView {
    return exportView(row, this.deps.publicBaseUrl())
  }

  submitLeaseMs (): number {
    return this.deps.config.EXPORT_SUBMIT_TIMEOUT_MS + SUBMIT_LEASE_MARGIN_MS
  }

  /**
   * Submits the row's render id with a lease. The credential is stored before the call (a
   * render id exists only on the token that submitted it). A duplicate id is the upstream
   * already holding this render (a submit before a crash): the render is asked about, and only
   * a render that is not ours gets a fresh id (contract §3.8).
   */
  async submit (lease: Lease, row: ExportRow, upstreamSessionId: string): Promise<{ renderId: string, credentialId: string }> {
    const options = row.options as unknown as ExportOptions
    const output: Record<string, unknown> = { format: options.format, quality: options.quality }
    if (options.resolution !== undefined) output.resolution = options.resolution
    const auth = authOf(lease)
    let renderId = row.renderId ?? renderIdFor(row.id, row.attempts)
    await this.pin(row.id, { credentialId: lease.credentialId, renderId })
    const signal = (): AbortSignal => AbortSignal.timeout(this.deps.config.EXPORT_SUBMIT_TIMEOUT_MS)
    try {
      await this.deps.nemo.submitRender(auth, { id: renderId, sessionId: upstreamSessionId, draft: row.draft, output }, { signal: signal() })
    } catch (err) {
      if (!isDuplicateId(err)) throw err
      const known = await this.deps.nemo.getRender(auth, renderId, { signal: signal() }).then(() => true, () => false)
      if (known) return { renderId, credentialId: lease.credentialId }
      renderId = `${renderIdFor(row.id, 1)}_${row.attempts}_${Date.now().toString(36)}`
      this.deps.log.warn({ exportId: row.id, renderId }, 'the upstream already knew the render id; submitting with a new one')
      await this.pin(row.id, { credentialId: lease.credentialId, renderId })
      await this.deps.nemo.submitRender(auth, { id: renderId, sessionId: upstreamSessionId, draft: row.draft, output }, { signal: signal() })
    }
    return { renderId, credentialId: lease.credentialId }
  }

  /** Stores the token and render id a submit is about to use, while the row is still queued. */
  async pin (id: string, to: { credentialId: string, renderId: string }): Promise<void> {
    const row = await this.deps.prisma.export.findUnique({ where: { id }, select: { credentialId: true, renderId: true, renderIds: true } })
    if (!row || (row.credentialId === to.credentialId && row.renderId === to.renderId)) return
    await this.deps.prisma.export.updateMany({
      where: { id, status: 'queued' },
      data: {
        credentialId: to.credentialId,
        renderId: to.renderId,
        ...(row.renderIds.includes(to.renderId) ? {} : { renderIds: { push: to.renderId } }),
        pollLockedUntil: new Date(Date.now() + this.submitLeaseMs())
      }
    })
  }

  /**
   * The upstream has the render: queued -> rendering, with its event, in one transaction. A
   * row that left `queued` meanwhile (cancelled) is not touched, and its new render is
   * cancelled upstream. Null when the row had left `queued`.
   */
  async accepted (row: ExportRow, submitted: { renderId: string, credentialId: string }): Promise<ExportRow | null> {
    const { prisma } = this.deps
    const first = row.attempts <= 1
    const options = row.options as unknown as ExportOptions
    const result = await prisma.$transaction(async (tx) => {
      const { count } = await tx.export.updateMany({
        where: { id: row.id, status: 'queued' },
        data: {
          status: 'pending',
          progress: 5,
          renderId: submitted.renderId,
          credentialId: submitted.credentialId,
          startedAt: row.startedAt ?? new Date(),
          pollLockedUntil: null,
          pollProblems: 0,
          nextPollAt: new Date(Date.now() + this.deps.config.EXPORT_POLL_INITIAL_MS)
        }
      })
      if (count === 0) return null
      const done = await tx.export.findUniqueOrThrow({ where: { id: row.id } })
      const event = first
        ? await this.events.appendIn(tx, row.sessionId, 'export.started', { exportId: row.id, renderId: submitted.renderId, ...options })
        : null
      return { done, event }
    })
    if (result === null) {
      const now = await prisma.export.findUnique({ where: { id: row.id }, select: { status: true } })
      if (now !== null && now.status !== 'queued') {
        const lease = await this.credentials.leaseInAnyState(submitted.credentialId)
        if (lease) await this.deps.nemo.cancelRender(authOf(lease), submitted.renderId).catch(() => {})
      }
      return null
    }
    if (result.event !== null) {
      this.events.publish(result.event)
      domainMetrics().exports.add(1, { status: 'started' })
    }
    return result.done
  }

  async schedule (id: string, delayMs: number): Promise<void> {
    await this.deps.jobs?.schedule(EXPORT_POLL_QUEUE, { exportId: id }, { delayMs, key: id })
  }

  backoff (polls: number): number {
    const { EXPORT_POLL_INITIAL_MS: initial, EXPORT_POLL_MAX_MS: max } = this.deps.config
    return Math.min(max, Math.round((initial / 2) * 1.5 ** polls))
  }

  /** Submits a queued row through its session (the user's current token), then polls it. */
  async submitAgain (row: ExportRow): Promise<number | null> {
    const actor = { tenantId: row.tenantId, userId: row.userId }
    try {
      const submitted = await this.sessions.withSession(actor, row.sessionId, async (ctx) => await this.submit(ctx.lease, row, ctx.upstreamSessionId))
      await this.accepted(row, submitted)
      return this.deps.config.EXPORT_POLL_INITIAL_MS
    } catch (err) {
      if (isAmbiguous(err)) {
        this.deps.log.warn({ err, exportId: row.id }, 'render submit got no answer; will ask the upstream again')
        return this.backoff(row.polls)
      }
      const message = isGatewayError(err) ? err.message : 'The render could not be submitted'
      await this.finish(row, { status: 'failed', error: { reason: 'submit_failed', message, retryable: !(err instanceof NemoError && err.kind === 'plan_required') } })
      return null
    }
  }

  /**
   * A render that failed, was lost, or whose token died is submitted again with a new render
   * id: once for a failed or lost render, once for a dead token. The retry's reason is logged
   * as an `export.progress` event. The row goes back to `queued` first (guarded: a cancelled
   * export stays cancelled), so a crash during the new submit is resolved like any other.
   */
  async resubmit (row: ExportRow, error: ExportError): Promise<number | null> {
    const token = error.reason === 'upstream_auth'
    const renderRetries = row.attempts - 1 - row.tokenResubmits
    const allowed = error.retryable && (token ? row.tokenResubmits < MAX_TOKEN_RESUBMITS : renderRetries < MAX_ATTEMPTS - 1)
    if (!allowed) {
      const why = token
        ? `${error.message}; it was already submitted again with the user's current token once`
        : `${error.message} (attempt ${row.attempts} of ${MAX_ATTEMPTS})`
      await this.finish(row, { status: 'failed', error: { ...error, message: why } })
      return null
    }
    const attempt = row.attempts + 1
    const renderId = renderIdFor(row.id, attempt)
    const { count } = await this.deps.prisma.export.updateMany({
      where: { id: row.id, status: { in: ['pending', 'processing'] } },
      data: {
        status: 'queued',
        progress: 5,
        renderId,
        renderIds: { push: renderId },
        attempts: attempt,
        pollProblems: 0,
        ...(token ? { tokenResubmits: { increment: 1 } } : {}),
        pollLockedUntil: new Date(Date.now() + this.submitLeaseMs())
      }
    })
    if (count === 0) return null
    this.deps.log.warn({ exportId: row.id, reason: error.reason, renderId }, 'submitting the render again')
    await this.events.append(row.sessionId, 'export.progress', {
      exportId: row.id, status: 'rendering', progress: 5, attempt, renderId, retry: { reason: error.reason, message: error.message }
    })
    const queued = await this.deps.prisma.export.findUniqueOrThrow({ where: { id: row.id } })
    return await this.submitAgain(queued)
  }

  /**
   * Tells the upstream to stop a render, and reads what it says: a render it had already
   * finished keeps its real outcome. `otherwise` is the outcome when the render did stop.
   */
  async cancelUpstream (row: ExportRow, otherwise: Final = { status: 'canceled' }): Promise<Final> {
    if (row.renderId === null || row.status === 'queued') {
      if (row.renderId !== null) {
        const lease = await this.credentials.leaseInAnyState(row.credentialId)
        if (lease) await this.deps.nemo.cancelRender(authOf(lease), row.renderId).catch(() => {})
      }
      return otherwise
    }
    const lease = await this.credentials.leaseInAnyState(row.credentialId)
    if (!lease) return otherwise
    const auth = authOf(lease)
    try {
      const answer = await this.deps.nemo.cancelRender(auth, row.renderId)
      if (answer.status === 'canceled') return otherwise
    } catch (err) {
      this.deps.log.warn({ err, exportId: row.id }, 'the upstream did not confirm the render cancel')
    }
    try {
      const status = await this.deps.nemo.getRender(auth, row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
      if (status.status === 'completed') return { status: 'completed', outputUrl: status.outputUrl ?? null }
      if (status.status === 'failed' && otherwise.status === 'canceled' && !/cancel/i.test(status.error ?? '')) {
        return { status: 'failed', error: { reason: 'render_failed', message: status.error ?? 'The render failed', retryable: true } }
      }
    } catch {
      // the upstream cannot say: the caller's cancel stands
    }
    return otherwise
  }

  /**
   * What the export cost, from the balance of the token that rendered it after it ended (the
   * contract makes exports free; an upstream that charges for them is counted all the same),
   * like a turn's: a read of its own, shared with the actions on that token ending meanwhile.
   */
  private async charge (row: ExportRow): Promise<void> {
    let lease: Lease | null
    try {
      lease = await this.credentials.leaseInAnyState(row.credentialId)
    } catch (err) {
      this.deps.log.warn({ err, exportId: row.id }, 'could not read the balance after an export')
      return
    }
    if (lease === null) return
    await this.credits.counting(row.tenantId, this.credits.chargeAfter({ tenantId: row.tenantId, userId: row.userId }, lease))
  }

  /**
   * The export's final status, its log event and its webhook messages, in one transaction.
   * Only the first caller to finish an export writes anything; null for the others.
   */
  async finish (row: ExportRow, final: Final): Promise<ExportRow | null> {
    const { prisma } = this.deps
    const user = await prisma.user.findUnique({ where: { id: row.userId }, select: { externalId: true } })
    const result = await prisma.$transaction(async (tx) => {
      const { count } = await tx.export.updateMany({
        where: { id: row.id, status: { in: ACTIVE } },
        data: {
          status: final.status,
          completedAt: new Date(),
          pollLockedUntil: null,
          nextPollAt: null,
          // the file is copied into the gateway's store after this commits (a durable job)
          ...(final.status === 'completed' ? { progress: 100, outputUrl: final.outputUrl, archiveState: this.archive.enabled ? 'pending' : null } : {}),
          ...(final.status === 'failed' ? { error: final.error as unknown as Prisma.InputJsonValue } : {})
        }
      })
      if (count === 0) return null
      const done = await tx.export.findUniqueOrThrow({ where: { id: row.id } })
      const view = this.view(done)
      const type = final.status === 'canceled' ? 'export.cancelled' : `export.${final.status}`
      const data = {
        exportId: view.id,
        sessionId: view.sessionId,
        userId: user?.externalId ?? null,
        status: view.status,
        progress: view.progress,
        downloadUrl: view.downloadUrl,
        error: view.error,
        renderId: view.renderId,
        attempts: view.attempts,
        createdAt: view.createdAt.toISOString(),
        completedAt: view.completedAt?.toISOString() ?? null
      }
      const event = await this.events.appendIn(tx, row.sessionId, type, data)
      await this.webhooks.enqueue(tx, row.tenantId, type, data, row.traceparent)
      await addUsage(tx, { tenantId: row.tenantId, userId: row.userId }, ENDED[final.status])
      return { done, event }
    })
    if (result === null) return null
    domainMetrics().exports.add(1, { status: statusOf(result.done) })
    this.events.publish(result.event)
    this.webhooks.wakeDelivery()
    if (result.done.archiveState === 'pending') {
      // a crash before this lands is made good by the archive's reconciler
      await this.archive.schedule(result.done.id).catch((err: unknown) => this.deps.log.warn({ err, exportId: result.done.id }, 'could not queue the archive copy; the reconciler will'))
    }
    await this.charge(row)
    return result.done
  }
}
