// Exports: render jobs the gateway owns. The upstream renders in 30-90 s and forgets a job
// nobody polls, and a render id only exists on the token that submitted it, so an export row
// keeps that credential, the draft it rendered and every render id it used. Polls run as
// durable jobs (pg-boss, one waiting job per export) under a lease on the row, so a render is
// polled by one instance at a time and survives restarts. The final status, its event and its
// webhook messages commit in one transaction (an outbox): a crash can neither lose nor repeat them.
import { randomUUID } from 'node:crypto'
import type { Export as ExportRow, Prisma } from '../generated/prisma/client.ts'
import { gwError, isGatewayError } from '../errors.ts'
import { isExportable } from '../nemo/draft.ts'
import { isNemoError, NemoError } from '../nemo/errors.ts'
import type { RenderDownload } from '../nemo/client.ts'
import type { Credentials, Lease } from './credentials.ts'
import { after, pageOf, type Page } from './cursor.ts'
import type { Actor, DomainDeps } from './deps.ts'
import type { SessionEvents } from './events.ts'
import type { Sessions } from './sessions.ts'
import type { Timelines } from './timeline.ts'
import type { Webhooks } from './webhooks.ts'
import { RateLimiter } from './rate-limiter.ts'
import { domainMetrics } from './metrics.ts'
import { annotateSpan, inSpan } from './tracing.ts'

export const EXPORT_POLL_QUEUE = 'export-poll'

export type ExportStatus = 'queued' | 'rendering' | 'completed' | 'failed' | 'cancelled'
export const EXPORT_STATUSES: ExportStatus[] = ['queued', 'rendering', 'completed', 'failed', 'cancelled']
export type ExportQuality = 'high' | 'medium' | 'low'

export interface ExportOptions {
  format: 'mp4'
  quality: ExportQuality
  resolution?: string
}

export interface ExportError {
  /** render_failed, lost, deadline, upstream_auth, submit_failed */
  reason: string
  message: string
  /** Whether starting the export again may help. */
  retryable: boolean
}

export interface ExportView {
  id: string
  sessionId: string
  status: ExportStatus
  progress: number
  format: string
  quality: string
  resolution: string | null
  renderId: string | null
  attempts: number
  downloadUrl: string | null
  error: ExportError | null
  createdAt: Date
  startedAt: Date | null
  completedAt: Date | null
  updatedAt: Date
}

const ACTIVE: Array<ExportRow['status']> = ['queued', 'pending', 'processing']
/**
 * How long one poll may hold an export. The upstream call inside it is cut a few seconds
 * before, so a lease never outlives its poll; an instance killed mid-poll delays that export
 * by at most this much.
 */
const POLL_LEASE_MS = 20_000
const POLL_CALL_MS = 15_000
/** A failed or lost render is submitted again once, with a new render id. */
const MAX_ATTEMPTS = 2

function statusOf (row: Pick<ExportRow, 'status'>): ExportStatus {
  switch (row.status) {
    case 'queued': return 'queued'
    case 'pending': case 'processing': return 'rendering'
    case 'completed': return 'completed'
    case 'failed': return 'failed'
    case 'canceled': return 'cancelled'
  }
}

function dbStatuses (status: ExportStatus): Array<ExportRow['status']> {
  switch (status) {
    case 'queued': return ['queued']
    case 'rendering': return ['pending', 'processing']
    case 'completed': return ['completed']
    case 'failed': return ['failed']
    case 'cancelled': return ['canceled']
  }
}

type Final = { status: 'completed', outputUrl: string | null } | { status: 'failed', error: ExportError } | { status: 'canceled' }

export class Exports {
  private readonly limiter: RateLimiter

  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly credentials: Credentials,
    private readonly events: SessionEvents,
    private readonly timelines: Timelines,
    private readonly webhooks: Webhooks
  ) {
    this.limiter = new RateLimiter(deps.config.EXPORT_POLL_RATE)
  }

  /** The stable gateway URL of an export's file (what webhooks and events carry). */
  downloadUrl (id: string): string {
    return `${this.deps.publicBaseUrl()}/v1/exports/${id}/download`
  }

  view (row: ExportRow): ExportView {
    const options = row.options as Partial<ExportOptions>
    const status = statusOf(row)
    return {
      id: row.id,
      sessionId: row.sessionId,
      status,
      progress: row.progress,
      format: options.format ?? 'mp4',
      quality: options.quality ?? 'high',
      resolution: options.resolution ?? null,
      renderId: row.renderId,
      attempts: row.attempts,
      downloadUrl: status === 'completed' ? this.downloadUrl(row.id) : null,
      error: (row.error ?? null) as ExportError | null,
      createdAt: row.createdAt,
      startedAt: row.startedAt,
      completedAt: row.completedAt,
      updatedAt: row.updatedAt
    }
  }

  /**
   * Reads the latest state, refuses a draft with nothing to render, submits the render with
   * the session's token and stores the job. With an idempotency key, a retry returns the
   * export the first call started instead of starting a second render.
   */
  async start (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey?: string): Promise<ExportView> {
    return await inSpan('export.start', { 'nemo.tenant.id': actor.tenantId, 'nemo.session.id': sessionId }, async () => await this.startTraced(actor, sessionId, input, idempotencyKey))
  }

  private async startTraced (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey?: string): Promise<ExportView> {
    if (idempotencyKey !== undefined) {
      const existing = await this.byKey(actor, idempotencyKey)
      if (existing) {
        if (existing.sessionId !== sessionId) throw gwError('GW_ERR_IDEMPOTENCY_MISMATCH', 'This idempotency key started an export of another session; use a new key')
        return this.view(existing)
      }
    }
    const { session, state } = await this.sessions.withSession(actor, sessionId, async (ctx) => ({ session: ctx.session, state: await this.timelines.fetch(ctx) }))
    if (!isExportable(state.draft)) {
      throw gwError('GW_ERR_NOTHING_TO_EXPORT', 'Nothing to export yet: the timeline has no clips. Upload media or ask for an edit first, then export again.')
    }
    const options: ExportOptions = { format: 'mp4', quality: input.quality ?? 'high', ...(input.resolution === undefined ? {} : { resolution: input.resolution }) }
    const id = randomUUID()
    let row: ExportRow
    try {
      row = await this.deps.prisma.export.create({
        data: {
          id,
          tenantId: actor.tenantId,
          userId: actor.userId,
          sessionId: session.id,
          credentialId: session.credentialId,
          draft: state.draft as Prisma.InputJsonValue,
          options: options as unknown as Prisma.InputJsonValue,
          idempotencyKey: idempotencyKey ?? null,
          deadlineAt: new Date(Date.now() + this.deps.config.EXPORT_DEADLINE_MS)
        }
      })
    } catch (err) {
      // two retries with one key at once: the unique index lets one in, the other gets its export
      const existing = idempotencyKey === undefined ? null : await this.byKey(actor, idempotencyKey)
      if (existing) return this.view(existing)
      throw err
    }
    try {
      const submitted = await this.sessions.withSession(actor, session.id, async (ctx) => {
        const renderId = await this.submit(ctx.lease, row, ctx.upstreamSessionId, 1)
        return { renderId, lease: ctx.lease }
      })
      row = await this.deps.prisma.export.update({
        where: { id },
        data: {
          status: 'pending',
          progress: 5,
          renderId: submitted.renderId,
          renderIds: [submitted.renderId],
          credentialId: submitted.lease.credentialId,
          attempts: 1,
          startedAt: new Date(),
          nextPollAt: new Date(Date.now() + this.deps.config.EXPORT_POLL_INITIAL_MS)
        }
      })
    } catch (err) {
      // nothing was started upstream: the export does not exist, the caller gets the reason
      await this.deps.prisma.export.delete({ where: { id } }).catch(() => {})
      throw err
    }
    await this.events.append(session.id, 'export.started', { exportId: id, renderId: row.renderId, ...options })
    domainMetrics().exports.add(1, { status: 'started' })
    await this.schedule(id, this.deps.config.EXPORT_POLL_INITIAL_MS)
    return this.view(row)
  }

  private async byKey (actor: Actor, key: string): Promise<ExportRow | null> {
    return await this.deps.prisma.export.findUnique({ where: { tenantId_userId_idempotencyKey: { tenantId: actor.tenantId, userId: actor.userId, idempotencyKey: key } } })
  }

  /**
   * Submits a render as `render_<export id>` (a suffix for later attempts). A duplicate id is
   * answered by a fresh id, once (contract §3.8).
   */
  private async submit (lease: Lease, row: ExportRow, upstreamSessionId: string, attempt: number): Promise<string> {
    const options = row.options as unknown as ExportOptions
    const output: Record<string, unknown> = { format: options.format, quality: options.quality }
    if (options.resolution !== undefined) output.resolution = options.resolution
    const base = `render_${row.id.replace(/-/g, '')}`
    const auth = { token: lease.token, ...(lease.upstreamUserId === null ? {} : { userId: lease.upstreamUserId }) }
    let renderId = attempt === 1 ? base : `${base}_${attempt}`
    try {
      await this.deps.nemo.submitRender(auth, { id: renderId, sessionId: upstreamSessionId, draft: row.draft, output })
    } catch (err) {
      if (!isDuplicateId(err)) throw err
      renderId = `${base}_${attempt}_${Date.now().toString(36)}`
      this.deps.log.warn({ exportId: row.id, renderId }, 'the upstream already knew the render id; submitting with a new one')
      await this.deps.nemo.submitRender(auth, { id: renderId, sessionId: upstreamSessionId, draft: row.draft, output })
    }
    return renderId
  }

  private async schedule (id: string, delayMs: number): Promise<void> {
    await this.deps.jobs?.schedule(EXPORT_POLL_QUEUE, { exportId: id }, { delayMs, key: id })
  }

  async get (actor: Actor, id: string): Promise<ExportView> {
    return this.view(await this.getRow(actor, id))
  }

  async getRow (actor: Actor, id: string): Promise<ExportRow> {
    const row = await this.deps.prisma.export.findFirst({ where: { id, tenantId: actor.tenantId, userId: actor.userId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Export ${id} not found`)
    return row
  }

  async list (actor: Actor, opts: { sessionId?: string, status?: ExportStatus, cursor?: string, limit: number }): Promise<Page<ExportView>> {
    if (opts.sessionId !== undefined) await this.sessions.getRow(actor, opts.sessionId)
    const rows = await this.deps.prisma.export.findMany({
      where: {
        tenantId: actor.tenantId,
        userId: actor.userId,
        ...(opts.sessionId === undefined ? {} : { sessionId: opts.sessionId }),
        ...(opts.status === undefined ? {} : { status: { in: dbStatuses(opts.status) } }),
        OR: after(opts.cursor, 'createdAt')
      },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.createdAt, r => this.view(r))
  }

  /** Cancels a render that has not finished; the upstream is told, best effort. */
  async cancel (actor: Actor, id: string): Promise<ExportView> {
    const row = await this.getRow(actor, id)
    if (!ACTIVE.includes(row.status)) {
      throw gwError('GW_ERR_EXPORT_FINISHED', `Export ${id} has already finished (${statusOf(row)})`, { extensions: { status: statusOf(row) } })
    }
    if (row.renderId !== null) {
      const lease = await this.credentials.leaseOf(row.credentialId)
      if (lease) {
        await this.deps.nemo.cancelRender(lease.token, row.renderId)
          .catch((err: unknown) => this.deps.log.warn({ err, exportId: id }, 'the upstream did not confirm the render cancel'))
      }
    }
    const done = await this.finish(row, { status: 'canceled' })
    return this.view(done ?? await this.getRow(actor, id))
  }

  /** The rendered file, streamed from the upstream with the submitting token. */
  async download (actor: Actor, id: string, opts: { range?: string, signal?: AbortSignal }): Promise<RenderDownload> {
    const row = await this.completedRow(actor, id)
    if (row.renderId === null) throw gwError('GW_ERR_NOT_FOUND', `The file of export ${id} is no longer available`)
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (!lease) throw gwError('GW_ERR_NOT_FOUND', `The file of export ${id} is no longer available`)
    try {
      return await this.deps.nemo.downloadRender(lease.token, row.renderId, opts)
    } catch (err) {
      // the render proxy forgot it: the CDN URL it gave may still serve the file
      if (row.outputUrl === null || !(isNemoError(err) && err.httpStatus === 404)) throw err
      return await this.deps.nemo.downloadRender(lease.token, row.renderId, { ...opts, url: row.outputUrl })
    }
  }

  /** The upstream URL of a completed export, for callers that prefer a redirect. */
  async outputUrl (actor: Actor, id: string): Promise<string | null> {
    return (await this.completedRow(actor, id)).outputUrl
  }

  private async completedRow (actor: Actor, id: string): Promise<ExportRow> {
    const row = await this.getRow(actor, id)
    if (row.status !== 'completed') {
      throw gwError('GW_ERR_EXPORT_NOT_READY', `Export ${id} is ${statusOf(row)}; download it once it has completed`, { extensions: { status: statusOf(row) } })
    }
    return row
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
      where: { id, status: { in: ['pending', 'processing'] }, OR: [{ pollLockedUntil: null }, { pollLockedUntil: { lt: now } }] },
      data: { pollLockedUntil: new Date(now.getTime() + POLL_LEASE_MS) }
    })
    if (claimed.count === 0) {
      // finished, or leased: then look again when the lease ends, in case its holder died
      const held = await prisma.export.findUnique({ where: { id }, select: { status: true, pollLockedUntil: true } })
      if (held === null || !ACTIVE.includes(held.status) || held.pollLockedUntil === null) return null
      return Math.max(0, held.pollLockedUntil.getTime() - Date.now()) + 250
    }
    const row = await prisma.export.findUniqueOrThrow({ where: { id } })
    annotateSpan({ 'nemo.tenant.id': row.tenantId, 'nemo.session.id': row.sessionId, 'nemo.render.id': row.renderId ?? '' })
    try {
      const next = await this.pollClaimed(row)
      if (next !== null) {
        await prisma.export.update({ where: { id }, data: { pollLockedUntil: null, polls: { increment: 1 }, nextPollAt: new Date(Date.now() + next) } })
      }
      return next
    } catch (err) {
      await prisma.export.update({ where: { id }, data: { pollLockedUntil: null } }).catch(() => {})
      throw err
    }
  }

  private backoff (polls: number): number {
    const { EXPORT_POLL_INITIAL_MS: initial, EXPORT_POLL_MAX_MS: max } = this.deps.config
    return Math.min(max, Math.round((initial / 2) * 1.5 ** polls))
  }

  private async pollClaimed (row: ExportRow): Promise<number | null> {
    const { prisma, nemo } = this.deps
    if (row.deadlineAt.getTime() <= Date.now()) {
      await this.cancelUpstream(row)
      await this.finish(row, { status: 'failed', error: { reason: 'deadline', message: 'The render did not finish in time', retryable: true } })
      return null
    }
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (!lease || row.renderId === null) {
      await this.finish(row, { status: 'failed', error: { reason: 'upstream_auth', message: 'The token that submitted the render is gone', retryable: true } })
      return null
    }
    let status
    try {
      status = await nemo.getRender(lease.token, row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
      domainMetrics().renderPolls.add(1, { outcome: status.status })
    } catch (err) {
      domainMetrics().renderPolls.add(1, { outcome: isNemoError(err) ? err.kind : 'error' })
      if (isNemoError(err) && err.httpStatus === 404) {
        return await this.retryOrFail(row, lease, { reason: 'lost', message: 'The upstream no longer knows the render', retryable: true })
      }
      if (isNemoError(err, 'token_invalid')) {
        await this.finish(row, { status: 'failed', error: { reason: 'upstream_auth', message: 'The upstream no longer accepts the token that submitted the render', retryable: true } })
        return null
      }
      // the upstream is down, slow or throttling: ask again later
      this.deps.log.warn({ err, exportId: row.id }, 'render poll failed; will poll again')
      const wait = isNemoError(err, 'rate_limited') && err.retryAfterSec !== undefined ? err.retryAfterSec * 1000 : 0
      return Math.max(wait, this.backoff(row.polls))
    }
    if (status.status === 'completed') {
      await this.finish(row, { status: 'completed', outputUrl: status.outputUrl ?? null })
      return null
    }
    if (status.status === 'canceled') {
      await this.finish(row, { status: 'canceled' })
      return null
    }
    if (status.status === 'failed') {
      const invalid = /invalid draft/i.test(status.error ?? '')
      return await this.retryOrFail(row, lease, { reason: 'render_failed', message: status.error ?? 'The render failed', retryable: !invalid })
    }
    const progress = Math.max(row.progress, Math.min(99, Math.round(status.progress)))
    const dbStatus = status.status === 'pending' ? 'pending' : 'processing'
    if (progress !== row.progress || dbStatus !== row.status) {
      // guarded: a cancel that lands while this poll is in flight must not be overwritten
      const { count } = await prisma.export.updateMany({ where: { id: row.id, status: { in: ACTIVE } }, data: { progress, status: dbStatus } })
      // one event per poll at most, and only when something moved: progress is coalesced
      if (count > 0 && progress !== row.progress) await this.events.append(row.sessionId, 'export.progress', { exportId: row.id, status: 'rendering', progress })
    }
    return this.backoff(row.polls)
  }

  /** A failed or lost render gets one more try with a new render id; then the export fails. */
  private async retryOrFail (row: ExportRow, lease: Lease, error: ExportError): Promise<number | null> {
    if (row.attempts >= MAX_ATTEMPTS || !error.retryable) {
      await this.finish(row, { status: 'failed', error: { ...error, message: `${error.message} (attempt ${row.attempts} of ${MAX_ATTEMPTS})` } })
      return null
    }
    const session = await this.deps.prisma.session.findUnique({ where: { id: row.sessionId } })
    if (!session) return null
    let renderId: string
    try {
      renderId = await this.submit(lease, row, session.upstreamSessionId, row.attempts + 1)
    } catch (err) {
      const message = isGatewayError(err) ? err.message : 'The render could not be submitted again'
      await this.finish(row, { status: 'failed', error: { reason: 'submit_failed', message, retryable: !(err instanceof NemoError && err.kind === 'plan_required') } })
      return null
    }
    await this.deps.prisma.export.update({
      where: { id: row.id },
      data: { renderId, renderIds: { push: renderId }, attempts: { increment: 1 }, status: 'pending', progress: 5 }
    })
    await this.events.append(row.sessionId, 'export.progress', {
      exportId: row.id, status: 'rendering', progress: 5, attempt: row.attempts + 1, renderId, retry: { reason: error.reason, message: error.message }
    })
    return this.deps.config.EXPORT_POLL_INITIAL_MS
  }

  private async cancelUpstream (row: ExportRow): Promise<void> {
    if (row.renderId === null) return
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (lease) await this.deps.nemo.cancelRender(lease.token, row.renderId).catch(() => {})
  }

  /**
   * The export's final status, its log event and its webhook messages, in one transaction.
   * Only the first caller to finish an export writes anything; null for the others.
   */
  private async finish (row: ExportRow, final: Final): Promise<ExportRow | null> {
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
          ...(final.status === 'completed' ? { progress: 100, outputUrl: final.outputUrl } : {}),
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
      await this.webhooks.enqueue(tx, row.tenantId, type, data)
      return { done, event }
    })
    if (result === null) return null
    domainMetrics().exports.add(1, { status: statusOf(result.done) })
    this.events.publish(result.event)
    this.webhooks.nudge()
    return result.done
  }

  /**
   * Exports that should be polling but have no waiting job (a crash between a poll and
   * the next job's scheduling, a restart): scheduled again. One waiting job per export is
   * kept by the queue, so this is safe to run on every instance at any time.
   */
  async reconcile (): Promise<number> {
    // a submit cut off by a crash: whether the upstream got it cannot be known
    const stuck = await this.deps.prisma.export.findMany({ where: { status: 'queued', createdAt: { lt: new Date(Date.now() - 5 * 60_000) } } })
    for (const row of stuck) {
      await this.finish(row, { status: 'failed', error: { reason: 'interrupted', message: 'The gateway stopped while submitting the render', retryable: true } })
    }
    const rows = await this.deps.prisma.export.findMany({
      where: { status: { in: ['pending', 'processing'] } },
      select: { id: true, nextPollAt: true }
    })
    for (const r of rows) {
      const delay = Math.max(0, (r.nextPollAt?.getTime() ?? 0) - Date.now())
      await this.schedule(r.id, delay)
    }
    return rows.length
  }
}

function isDuplicateId (err: unknown): boolean {
  return err instanceof NemoError && err.kind === 'bad_request' && /duplicate|already exists/i.test(err.upstreamMessage ?? '')
}
