// Exports: render jobs the gateway owns. The upstream renders in 30-90 s and forgets a job
// nobody polls, and a render id only exists on the token that submitted it, so an export row
// keeps that credential, the draft it rendered and every render id it used. Polls run as
// durable jobs (pg-boss, one waiting job per export) under a lease on the row, so a render is
// polled by one instance at a time and survives restarts. The final status, its event and its
// webhook messages commit in one transaction (an outbox): a crash can neither lose nor repeat them.
//
// A submit is crash-safe: the render id, the draft and the credential are stored (status
// `queued`) before the upstream is called. An instance that dies inside that window leaves a
// queued row whose lease lapses; any poller then asks the upstream about that render id (known:
// carry on polling; unknown: submit it again with the same id). Every status change is guarded
// by the status it expects, so a cancel and a poll that race cannot bring an export back.
import { randomUUID } from 'node:crypto'
import type { Export as ExportRow, Prisma } from '../../generated/prisma/client.ts'
import { gwError, isGatewayError } from '../../errors.ts'
import { isExportable } from '../../nemo/draft.ts'
import { isNemoError, NemoError } from '../../nemo/errors.ts'
import type { RenderDownload } from '../../nemo/client.ts'
import type { Credentials, Lease } from '../tokens/index.ts'
import { after, pageOf, type Page } from '../shared/index.ts'
import type { Actor, DomainDeps } from '../shared/index.ts'
import type { SessionEvents } from '../events/index.ts'
import type { Sessions } from '../sessions/index.ts'
import type { Timelines } from '../sessions/index.ts'
import type { Webhooks } from '../webhooks/index.ts'
import { RateLimiter } from '../shared/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import { annotateSpan, inSpan } from '../../observability/tracing.ts'

export const EXPORT_POLL_QUEUE = 'export-poll'

export type ExportStatus = 'queued' | 'rendering' | 'completed' | 'failed' | 'cancelled'
export const EXPORT_STATUSES: ExportStatus[] = ['queued', 'rendering', 'completed', 'failed', 'cancelled']
export type ExportQuality = 'high' | 'medium' | 'low'

export interface ExportOptions {
  format: 'mp4'
  quality: ExportQuality
  resolution?: string
  /** A chat turn was running when the timeline was read: its edits are not in the render. */
  runningTurnId?: string
}

export interface ExportError {
  /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
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
  timelineNote: string | null
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
/** A render whose submitting token died is submitted again once, with the user's current token. */
const MAX_TOKEN_RESUBMITS = 1
/** The lease a submitter holds on a queued row, beyond the submit call's own timeout. */
const SUBMIT_LEASE_MARGIN_MS = 5_000
/** How long a call with a key waits for another call's submit of that key before answering `queued`. */
const SETTLE_WAIT_MS = 5_000

/** The upstream may or may not have accepted a call that ended like this: ask it, do not assume. */
function isAmbiguous (err: unknown): boolean {
  if (!(err instanceof NemoError)) return !isGatewayError(err)
  return err.kind === 'timeout' || err.kind === 'unavailable' || err.kind === 'bad_response' || err.kind === 'stream_broken'
}

/** An idempotency key already taken by a concurrent call: its outcome is the answer. */
class KeyTaken extends Error {
  constructor (cause: unknown) {
    super('idempotency key taken', { cause })
  }
}

function renderIdFor (exportId: string, attempt: number): string {
  const base = `render_${exportId.replace(/-/g, '')}`
  return attempt === 1 ? base : `${base}_${attempt}`
}

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
      timelineNote: options.runningTurnId === undefined ? null : `The timeline was read while turn ${options.runningTurnId} was still running: its edits are not in this render. Export again once the turn has ended to include them.`,
      renderId: row.renderId,
      attempts: row.attempts,
      downloadUrl: status === 'completed' ? this.downloadUrl(row.id) : null,
      error: errorView(row.error),
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
    // a key names one export: a retry gets it (or waits out its submit); a key whose first
    // submit was refused names nothing, and the retry starts afresh
    for (let tries = 0; ; tries++) {
      if (idempotencyKey !== undefined) {
        const existing = await this.settledByKey(actor, idempotencyKey, sessionId)
        if (existing) return this.view(existing)
      }
      try {
        return await this.startNew(actor, sessionId, input, idempotencyKey)
      } catch (err) {
        if (!(err instanceof KeyTaken) || tries >= 2) throw err instanceof KeyTaken ? err.cause : err
      }
    }
  }

  private async startNew (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey?: string): Promise<ExportView> {
    const { session, state } = await this.sessions.withSession(actor, sessionId, async (ctx) => ({ session: ctx.session, state: await this.timelines.fetch(ctx) }))
    if (!isExportable(state.draft)) {
      throw gwError('GW_ERR_NOTHING_TO_EXPORT', 'Nothing to export yet: the timeline has no clips. Upload media or ask for an edit first, then export again.')
    }
    const running = await this.deps.prisma.turn.findFirst({ where: { sessionId: session.id, status: 'running' }, select: { id: true } })
    const options: ExportOptions = {
      format: 'mp4',
      quality: input.quality ?? 'high',
      ...(input.resolution === undefined ? {} : { resolution: input.resolution }),
      ...(running === null ? {} : { runningTurnId: running.id })
    }
    const id = randomUUID()
    const renderId = renderIdFor(id, 1)
    let row: ExportRow
    try {
      // everything a restart needs to finish this submit is stored before the upstream hears of it
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
          renderId,
          renderIds: [renderId],
          attempts: 1,
          pollLockedUntil: new Date(Date.now() + this.submitLeaseMs()),
          deadlineAt: new Date(Date.now() + this.deps.config.EXPORT_DEADLINE_MS)
        }
      })
    } catch (err) {
      // two calls with one key at once: the unique index lets one in, the other takes its outcome
      if (idempotencyKey !== undefined) throw new KeyTaken(err)
      throw err
    }
    try {
      const submitted = await this.sessions.withSession(actor, session.id, async (ctx) => await this.submit(ctx.lease, row, ctx.upstreamSessionId))
      row = await this.accepted(row, submitted) ?? await this.deps.prisma.export.findUniqueOrThrow({ where: { id } })
    } catch (err) {
      if (!isAmbiguous(err)) {
        // refused outright: nothing renders, and the caller is told at once; no export is kept
        await this.deps.prisma.export.deleteMany({ where: { id, status: 'queued' } })
        throw err
      }
      // the upstream may have the render: the poller asks it once this submit's lease lapses
      this.deps.log.warn({ err, exportId: id }, 'render submit ended without an answer; the poller will ask the upstream')
      await this.schedule(id, this.submitLeaseMs())
      return this.view(row)
    }
    if (row.status !== 'queued') await this.schedule(id, this.deps.config.EXPORT_POLL_INITIAL_MS)
    return this.view(row)
  }

  private submitLeaseMs (): number {
    return this.deps.config.EXPORT_SUBMIT_TIMEOUT_MS + SUBMIT_LEASE_MARGIN_MS
  }

  /**
   * The export an idempotency key started, once its first submit has an answer: a submit
   * still running elsewhere is waited for (a few seconds at most), so calls that race on one key
   * all get the first call's outcome. Null when the key names no export (never used, or its
   * submit was refused and nothing was kept).
   */
  private async settledByKey (actor: Actor, key: string, sessionId: string): Promise<ExportRow | null> {
    const until = Date.now() + Math.min(this.submitLeaseMs(), SETTLE_WAIT_MS)
    for (;;) {
      const row = await this.byKey(actor, key)
      if (row === null) return null
      if (row.sessionId !== sessionId) throw gwError('GW_ERR_IDEMPOTENCY_MISMATCH', 'This idempotency key started an export of another session; use a new key')
      const submitting = row.status === 'queued' && row.pollLockedUntil !== null && row.pollLockedUntil.getTime() > Date.now()
      if (!submitting || Date.now() >= until) return row
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }

  private async byKey (actor: Actor, key: string): Promise<ExportRow | null> {
    return await this.deps.prisma.export.findUnique({ where: { tenantId_userId_idempotencyKey: { tenantId: actor.tenantId, userId: actor.userId, idempotencyKey: key } } })
  }

  /**
   * Submits the row's render id with a lease. The credential is stored before the call (a
   * render id exists only on the token that submitted it). A duplicate id is the upstream
   * already holding this render (a submit before a crash): the render is asked about, and only
   * a render that is not ours gets a fresh id (contract §3.8).
   */
  private async submit (lease: Lease, row: ExportRow, upstreamSessionId: string): Promise<{ renderId: string, credentialId: string }> {
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
  private async pin (id: string, to: { credentialId: string, renderId: string }): Promise<void> {
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
  private async accepted (row: ExportRow, submitted: { renderId: string, credentialId: string }): Promise<ExportRow | null> {
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
        const lease = await this.credentials.leaseOf(submitted.credentialId)
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

  /**
   * Cancels a render that has not finished. The upstream's answer decides: a render it had
   * already finished ends as it finished (completed or failed), not as cancelled.
   */
  async cancel (actor: Actor, id: string): Promise<ExportView> {
    const row = await this.getRow(actor, id)
    if (!ACTIVE.includes(row.status)) {
      throw gwError('GW_ERR_EXPORT_FINISHED', `Export ${id} has already finished (${statusOf(row)})`, { extensions: { status: statusOf(row) } })
    }
    const outcome = await this.cancelUpstream(row)
    const done = await this.finish(row, outcome)
    return this.view(done ?? await this.getRow(actor, id))
  }

  /**
   * The rendered file, streamed from the upstream with the submitting token. A range that
   * cannot be satisfied (RFC 9110 §14.1.1: `bytes=-0`, `bytes=5-1`, a start past the end) is
   * the caller's mistake: 416 with `Content-Range: bytes *<size>`, whatever the file's host
   * would have made of it.
   */
  async download (actor: Actor, id: string, opts: { range?: string, signal?: AbortSignal }): Promise<RenderDownload> {
    const row = await this.completedRow(actor, id)
    if (row.renderId === null) throw gwError('GW_ERR_NOT_FOUND', `The file of export ${id} is no longer available`)
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (!lease) throw gwError('GW_ERR_NOT_FOUND', `The file of export ${id} is no longer available`)
    const fetchFile = async (range: string | undefined): Promise<RenderDownload> => {
      const o = { ...(opts.signal === undefined ? {} : { signal: opts.signal }), ...(range === undefined ? {} : { range }) }
      try {
        return await this.deps.nemo.downloadRender(lease.token, row.renderId!, o)
      } catch (err) {
        // the render proxy forgot it: the CDN URL it gave may still serve the file
        if (row.outputUrl === null || !(isNemoError(err) && err.httpStatus === 404)) throw err
        return await this.deps.nemo.downloadRender(lease.token, row.renderId!, { ...o, url: row.outputUrl })
      }
    }
    const unsatisfiable = async (upstreamRange?: string): Promise<never> => {
      let size = /^bytes \*\/(\d+)$/.exec(upstreamRange ?? '')?.[1]
      if (size === undefined) {
        const whole = await fetchFile(undefined)
        whole.stream.destroy()
        size = whole.contentLength === undefined ? '*' : String(whole.contentLength)
      }
      throw gwError('GW_ERR_RANGE_NOT_SATISFIABLE', `The range ${opts.range ?? ''} lies outside the file (${size} bytes); ask for bytes=0-${size === '*' ? '' : Number(size) - 1} or part of it`, {
        headers: { 'content-range': `bytes */${size}` }
      })
    }
    if (opts.range !== undefined && rangeVerdict(opts.range) === 'unsatisfiable') return await unsatisfiable()
    const file = await fetchFile(opts.range)
    if (file.status === 416) return await unsatisfiable(file.contentRange)
    return file
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
      where: { id, status: { in: ACTIVE }, OR: [{ pollLockedUntil: null }, { pollLockedUntil: { lt: now } }] },
      data: { pollLockedUntil: new Date(now.getTime() + Math.max(POLL_LEASE_MS, this.submitLeaseMs())) }
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

  private backoff (polls: number): number {
    const { EXPORT_POLL_INITIAL_MS: initial, EXPORT_POLL_MAX_MS: max } = this.deps.config
    return Math.min(max, Math.round((initial / 2) * 1.5 ** polls))
  }

  /**
   * A queued row whose submitter is gone (a crash, a submit that got no answer): the upstream
   * is asked about the stored render id. Known: the submit went through, polling starts.
   * Unknown: it is submitted again with the same id, with the user's current token.
   */
  private async resolveSubmit (row: ExportRow): Promise<number | null> {
    if (row.deadlineAt.getTime() <= Date.now()) {
      await this.finish(row, await this.cancelUpstream(row, { status: 'failed', error: { reason: 'interrupted', message: 'The render could not be submitted before the deadline', retryable: true } }))
      return null
    }
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (lease && row.renderId !== null) {
      try {
        await this.deps.nemo.getRender(authOf(lease), row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
        this.deps.log.info({ exportId: row.id, renderId: row.renderId }, 'an interrupted render submit had reached the upstream; polling it')
        await this.accepted(row, { renderId: row.renderId, credentialId: row.credentialId })
        return this.deps.config.EXPORT_POLL_INITIAL_MS
      } catch (err) {
        const gone = isNemoError(err) && (err.httpStatus === 404 || err.kind === 'token_invalid')
        if (!gone) {
          this.deps.log.warn({ err, exportId: row.id }, 'could not ask the upstream about an interrupted render submit; will ask again')
          return this.backoff(row.polls)
        }
      }
    }
    this.deps.log.info({ exportId: row.id, renderId: row.renderId }, 'an interrupted render submit never reached the upstream; submitting it again')
    return await this.submitAgain(row)
  }

  /** Submits a queued row through its session (the user's current token), then polls it. */
  private async submitAgain (row: ExportRow): Promise<number | null> {
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

  private async pollClaimed (row: ExportRow): Promise<number | null> {
    const { prisma, nemo } = this.deps
    if (row.deadlineAt.getTime() <= Date.now()) {
      await this.finish(row, await this.cancelUpstream(row, { status: 'failed', error: { reason: 'deadline', message: 'The render did not finish in time', retryable: true } }))
      return null
    }
    const lease = await this.credentials.leaseOf(row.credentialId)
    if (!lease || row.renderId === null) {
      return await this.resubmit(row, { reason: 'upstream_auth', message: 'The token that submitted the render is no longer usable', retryable: true })
    }
    let status
    try {
      status = await nemo.getRender(authOf(lease), row.renderId, { signal: AbortSignal.timeout(POLL_CALL_MS) })
      domainMetrics().renderPolls.add(1, { outcome: status.status })
    } catch (err) {
      domainMetrics().renderPolls.add(1, { outcome: isNemoError(err) ? err.kind : 'error' })
      if (isNemoError(err) && err.httpStatus === 404) {
        return await this.resubmit(row, { reason: 'lost', message: 'The upstream no longer knows the render', retryable: true })
      }
      if (isNemoError(err, 'token_invalid') || isNemoError(err, 'credits_exhausted')) {
        return await this.pollProblem(row, lease, err)
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
      return await this.resubmit(row, { reason: 'render_failed', message: status.error ?? 'The render failed', retryable: !invalid })
    }
    const progress = Math.max(row.progress, Math.min(99, Math.round(status.progress)))
    const dbStatus = status.status === 'pending' ? 'pending' : 'processing'
    if (progress !== row.progress || dbStatus !== row.status || row.pollProblems > 0) {
      // guarded: a cancel that lands while this poll is in flight must not be overwritten
      const { count } = await prisma.export.updateMany({ where: { id: row.id, status: { in: ['pending', 'processing'] } }, data: { progress, status: dbStatus, pollProblems: 0 } })
      // one event per poll at most, and only when something moved: progress is coalesced
      if (count > 0 && progress !== row.progress) await this.events.append(row.sessionId, 'export.progress', { exportId: row.id, status: 'rendering', progress })
    }
    return this.backoff(row.polls)
  }

  /**
   * A poll the upstream answered with 1001 or 2001. A 1001 that re-verification confirms
   * (the token is gone) resubmits the render with the user's current token; otherwise the
   * poll is repeated a bounded number of times, then the export gets a clear outcome.
   */
  private async pollProblem (row: ExportRow, lease: Lease, err: NemoError): Promise<number | null> {
    const verdict = await this.credentials.noteFailure(lease, err)
    if (err.kind === 'token_invalid' && verdict === 'other') {
      return await this.resubmit(row, { reason: 'upstream_auth', message: 'The upstream no longer accepts the token that submitted the render (expired or revoked)', retryable: true })
    }
    const problems = row.pollProblems + 1
    if (problems < this.deps.config.EXPORT_POLL_RECHECKS) {
      await this.deps.prisma.export.updateMany({ where: { id: row.id, status: { in: ['pending', 'processing'] } }, data: { pollProblems: problems } })
      this.deps.log.warn({ exportId: row.id, kind: err.kind, problems }, 'render poll could not read the render; will check again')
      return this.backoff(row.polls)
    }
    if (err.kind === 'token_invalid') {
      // the upstream keeps refusing the token on this render although it accepts it elsewhere
      return await this.resubmit(row, { reason: 'upstream_auth', message: `The upstream refused the render's token on ${problems} polls in a row`, retryable: true })
    }
    await this.finish(row, await this.cancelUpstream(row, {
      status: 'failed',
      error: { reason: 'credits_exhausted', message: `The upstream answered "credits used up" (2001) on ${problems} polls in a row; top up or register the account, then export again`, retryable: true }
    }))
    return null
  }

  /**
   * A render that failed, was lost, or whose token died is submitted again with a new render
   * id: once for a failed or lost render, once for a dead token. The retry's reason is logged
   * as an `export.progress` event. The row goes back to `queued` first (guarded: a cancelled
   * export stays cancelled), so a crash during the new submit is resolved like any other.
   */
  private async resubmit (row: ExportRow, error: ExportError): Promise<number | null> {
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
  private async cancelUpstream (row: ExportRow, otherwise: Final = { status: 'canceled' }): Promise<Final> {
    if (row.renderId === null || row.status === 'queued') {
      if (row.renderId !== null) {
        const lease = await this.credentials.leaseOf(row.credentialId)
        if (lease) await this.deps.nemo.cancelRender(authOf(lease), row.renderId).catch(() => {})
      }
      return otherwise
    }
    const lease = await this.credentials.leaseOf(row.credentialId)
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
    // queued rows too: a submit cut off by a crash is resolved once its lease lapses
    const rows = await this.deps.prisma.export.findMany({
      where: { status: { in: ACTIVE } },
      select: { id: true, nextPollAt: true, pollLockedUntil: true }
    })
    for (const r of rows) {
      const due = Math.max(r.nextPollAt?.getTime() ?? 0, r.pollLockedUntil?.getTime() ?? 0)
      await this.schedule(r.id, Math.max(0, due - Date.now()))
    }
    return rows.length
  }
}

/**
 * A Range header read by RFC 9110 §14.1.1: 'ignore' when it is not a bytes range the gateway
 * understands (the whole file is sent), 'unsatisfiable' when no file could satisfy it.
 */
export function rangeVerdict (header: string): 'ignore' | 'check' | 'unsatisfiable' {
  const m = /^bytes=(.+)$/i.exec(header.trim())
  if (m === null) return 'ignore'
  const specs = m[1]!.split(',').map(part => part.trim())
  let satisfiable = false
  for (const spec of specs) {
    const r = /^(\d*)-(\d*)$/.exec(spec)
    if (r === null || (r[1] === '' && r[2] === '')) return 'ignore'
    if (r[1] === '') {
      if (Number(r[2]) > 0) satisfiable = true
    } else if (r[2] === '' || Number(r[2]) >= Number(r[1])) {
      satisfiable = true
    }
  }
  return satisfiable ? 'check' : 'unsatisfiable'
}

function authOf (lease: Lease): { token: string, userId?: string } {
  return { token: lease.token, ...(lease.upstreamUserId === null ? {} : { userId: lease.upstreamUserId }) }
}

function errorView (stored: unknown): ExportError | null {
  if (stored === null || typeof stored !== 'object') return null
  const e = stored as Partial<ExportError>
  return { reason: e.reason ?? 'unknown', message: e.message ?? '', retryable: e.retryable ?? false }
}

function isDuplicateId (err: unknown): boolean {
  return err instanceof NemoError && err.kind === 'bad_request' && /duplicate|already exists/i.test(err.upstreamMessage ?? '')
}
