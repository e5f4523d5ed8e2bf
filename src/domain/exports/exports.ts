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
import { gwError } from '../../errors.ts'
import { isExportable } from '../../nemo/draft.ts'
import type { RenderDownload } from '../../nemo/client.ts'
import type { Credentials, Credits } from '../tokens/index.ts'
import { after, pageOf, type Actor, type DomainDeps, type Page } from '../common/index.ts'
import type { SessionEvents } from '../events/index.ts'
import { outOfBounds, type Sessions, type Timelines } from '../sessions/index.ts'
import type { Webhooks } from '../webhooks/index.ts'
import { currentTraceparent, inSpan } from '../../observability/tracing.ts'
import { ACTIVE, dbStatuses, downloadUrlOf, exportView, isAmbiguous, renderIdFor, SETTLE_WAIT_MS, statusOf, type ExportOptions, type ExportStatus, type ExportView } from './model.ts'
import { ExportPoller } from './poller.ts'
import { OutputArchive } from './output-archive.ts'
import { createOutputStore } from './stores.ts'
import { RenderJobs } from './render-jobs.ts'

/** An idempotency key already taken by a concurrent call: its outcome is the answer. */
class KeyTaken extends Error {
  constructor (cause: unknown) {
    super('idempotency key taken', { cause })
  }
}

export class Exports {
  private readonly jobs: RenderJobs
  readonly poller: ExportPoller
  /** The gateway's own copies of the rendered files. */
  readonly archive: OutputArchive
  /** Starts with an idempotency key running on this instance, by tenant, user and key. */
  private readonly starting = new Map<string, Promise<ExportView>>()

  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly credentials: Credentials,
    events: SessionEvents,
    private readonly timelines: Timelines,
    webhooks: Webhooks,
    credits: Credits
  ) {
    this.archive = new OutputArchive(deps, credentials, events, createOutputStore(deps.config))
    this.jobs = new RenderJobs(deps, sessions, credentials, events, webhooks, this.archive, credits)
    this.poller = new ExportPoller(deps, this.jobs, credentials, events)
  }

  /** The stable gateway URL of an export's file (what webhooks and events carry). */
  downloadUrl (id: string): string {
    return downloadUrlOf(this.deps.publicBaseUrl(), id)
  }

  view (row: ExportRow): ExportView {
    return exportView(row, this.deps.publicBaseUrl())
  }

  /** One poll of one export (the job handler); see ExportPoller. */
  async poll (id: string): Promise<number | null> {
    return await this.poller.poll(id)
  }

  /** One archive copy of one export's file (the job handler); see OutputArchive. */
  async copyFile (id: string): Promise<number | null> {
    return await this.archive.copy(id)
  }

  /** Re-arms the archive copies that have no waiting job; see OutputArchive. */
  async reconcileArchive (): Promise<number> {
    return await this.archive.reconcile()
  }

  /** Deletes the archived files past OUTPUT_RETENTION_DAYS; see OutputArchive. */
  async sweepArchive (): Promise<number> {
    return await this.archive.sweep()
  }

  /** Re-arms the polls of exports that have no waiting job; see ExportPoller. */
  async reconcile (): Promise<number> {
    return await this.poller.reconcile()
  }

  /**
   * Reads the latest state, refuses a draft with nothing to render, submits the render with
   * the session's token and stores the job. With an idempotency key, a retry returns the
   * export the first call started instead of starting a second render.
   */
  async start (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey?: string): Promise<ExportView> {
    // the request's own span (not export.start's): the export's polls and webhooks link to it
    const traceparent = currentTraceparent()
    return await inSpan('export.start', { 'nemo.tenant.id': actor.tenantId, 'nemo.session.id': sessionId }, async () => await this.startTraced(actor, sessionId, input, idempotencyKey, traceparent))
  }

  /**
   * Calls with one key on this instance share the first call's start and so its outcome, its
   * error included (across instances, the export row carries the key: see startKeyed).
   */
  private async startTraced (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey: string | undefined, traceparent: string | null): Promise<ExportView> {
    if (idempotencyKey === undefined) return await this.startNew(actor, sessionId, input, traceparent)
    const slot = `${actor.tenantId}\n${actor.userId}\n${idempotencyKey}`
    const first = this.starting.get(slot)
    if (first !== undefined) {
      const view = await first
      if (view.sessionId !== sessionId) throw gwError('GW_ERR_IDEMPOTENCY_MISMATCH', 'This idempotency key started an export of another session; use a new key')
      return view
    }
    const started = this.startKeyed(actor, sessionId, input, idempotencyKey, traceparent)
    this.starting.set(slot, started)
    try {
      return await started
    } finally {
      this.starting.delete(slot)
    }
  }

  private async startKeyed (actor: Actor, sessionId: string, input: Partial<ExportOptions>, idempotencyKey: string, traceparent: string | null): Promise<ExportView> {
    // a key names one export: a retry gets it (or waits out its submit); a key whose first
    // submit was refused names nothing, and a later retry starts afresh
    for (let tries = 0; ; tries++) {
      const existing = await this.settledByKey(actor, idempotencyKey, sessionId)
      if (existing) return this.view(existing)
      try {
        return await this.startNew(actor, sessionId, input, traceparent, idempotencyKey)
      } catch (err) {
        if (!(err instanceof KeyTaken) || tries >= 2) throw err instanceof KeyTaken ? err.cause : err
      }
    }
  }

  private async startNew (actor: Actor, sessionId: string, input: Partial<ExportOptions>, traceparent: string | null, idempotencyKey?: string): Promise<ExportView> {
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
          pollLockedUntil: new Date(Date.now() + this.jobs.submitLeaseMs()),
          deadlineAt: new Date(Date.now() + this.deps.config.EXPORT_DEADLINE_MS),
          traceparent
        }
      })
    } catch (err) {
      // two calls with one key at once: the unique index lets one in, the other takes its outcome
      if (idempotencyKey !== undefined) throw new KeyTaken(err)
      throw err
    }
    try {
      const submitted = await this.sessions.withSession(actor, session.id, async (ctx) => await this.jobs.submit(ctx.lease, row, ctx.upstreamSessionId))
      row = await this.jobs.accepted(row, submitted) ?? await this.deps.prisma.export.findUniqueOrThrow({ where: { id } })
    } catch (err) {
      if (!isAmbiguous(err)) {
        // refused outright: nothing renders, and the caller is told at once; no export is kept
        await this.deps.prisma.export.deleteMany({ where: { id, status: 'queued' } })
        throw err
      }
      // the upstream may have the render: the poller asks it once this submit's lease lapses
      this.deps.log.warn({ err, exportId: id }, 'render submit ended without an answer; the poller will ask the upstream')
      await this.jobs.schedule(id, this.jobs.submitLeaseMs())
      return this.view(row)
    }
    if (row.status !== 'queued') await this.jobs.schedule(id, this.deps.config.EXPORT_POLL_INITIAL_MS)
    return this.view(row)
  }

  /**
   * The export an idempotency key started, once its first submit has an answer: a submit
   * still running elsewhere is waited for (a few seconds at most), so calls that race on one key
   * all get the first call's outcome. Null when the key names no export (never used, or its
   * submit was refused and nothing was kept).
   */
  private async settledByKey (actor: Actor, key: string, sessionId: string): Promise<ExportRow | null> {
    const until = Date.now() + Math.min(this.jobs.submitLeaseMs(), SETTLE_WAIT_MS)
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

  async get (actor: Actor, id: string): Promise<ExportView> {
    return this.view(await this.getRow(actor, id))
  }

  async getRow (actor: Actor, id: string): Promise<ExportRow> {
    const row = await this.deps.prisma.export.findFirst({ where: { id, tenantId: actor.tenantId, userId: actor.userId } })
    if (!row || outOfBounds(actor, row.sessionId)) throw gwError('GW_ERR_NOT_FOUND', `Export ${id} not found`)
    return row
  }

  async list (actor: Actor, opts: { sessionId?: string, status?: ExportStatus, cursor?: string, limit: number }): Promise<Page<ExportView>> {
    if (opts.sessionId !== undefined) await this.sessions.getRow(actor, opts.sessionId)
    const rows = await this.deps.prisma.export.findMany({
      where: {
        tenantId: actor.tenantId,
        userId: actor.userId,
        ...(opts.sessionId === undefined ? {} : { sessionId: opts.sessionId }),
        ...(opts.sessionId === undefined && actor.sessionIds !== undefined ? { sessionId: { in: [...actor.sessionIds] } } : {}),
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
    const outcome = await this.jobs.cancelUpstream(row)
    const done = await this.jobs.finish(row, outcome)
    return this.view(done ?? await this.getRow(actor, id))
  }

  /**
   * The rendered file: the gateway's archived copy once it is made (Range, ETag = its sha256),
   * until then streamed from the upstream with the submitting token. A range that cannot be
   * satisfied (RFC 9110 §14.1.1: `bytes=-0`, `bytes=5-1`, a start past the end) is the caller's
   * mistake: 416 with `Content-Range: bytes *<size>` (a slash after the star), whichever copy would have served it.
   */
  async download (actor: Actor, id: string, opts: { range?: string, signal?: AbortSignal }): Promise<ExportFile> {
    const row = await this.completedRow(actor, id)
    if (row.archiveState === 'expired') {
      throw gwError('GW_ERR_EXPORT_EXPIRED', `The file of export ${id} was deleted after the retention period; export the session again for a new one`)
    }
    if (row.archiveState === 'archived') return await this.fromArchive(row, opts.range)
    return await this.fromUpstream(row, opts)
  }

  private async fromArchive (row: ExportRow, rangeHeader: string | undefined): Promise<ExportFile> {
    const size = Number(row.archiveSize)
    const range = rangeHeader === undefined ? undefined : byteRange(rangeHeader, size)
    if (range === 'unsatisfiable') throw unsatisfiable(rangeHeader!, String(size))
    const file = await this.archive.open(row, range)
    return {
      stream: file.stream as ExportFile['stream'],
      status: file.status,
      contentType: 'video/mp4',
      contentLength: file.contentLength,
      ...(file.contentRange === undefined ? {} : { contentRange: file.contentRange }),
      acceptRanges: 'bytes',
      etag: file.etag
    }
  }

  private async fromUpstream (row: ExportRow, opts: { range?: string, signal?: AbortSignal }): Promise<ExportFile> {
    const fetchFile = async (range: string | undefined): Promise<RenderDownload> =>
      await this.archive.openUpstream(row, { ...(opts.signal === undefined ? {} : { signal: opts.signal }), ...(range === undefined ? {} : { range }) })
    const refuse = async (upstreamRange?: string): Promise<never> => {
      let size = /^bytes \*\/(\d+)$/.exec(upstreamRange ?? '')?.[1]
      if (size === undefined) {
        const whole = await fetchFile(undefined)
        whole.stream.destroy()
        size = whole.contentLength === undefined ? '*' : String(whole.contentLength)
      }
      throw unsatisfiable(opts.range ?? '', size)
    }
    if (opts.range !== undefined && rangeVerdict(opts.range) === 'unsatisfiable') return await refuse()
    const file = await fetchFile(opts.range)
    if (file.status === 416) return await refuse(file.contentRange)
    return file
  }

  /** Deletes the archived files of these exports (a user's or tenant's deletion); see OutputArchive. */
  async removeArchivedFiles (exportIds: string[]): Promise<number> {
    return await this.archive.removeFiles(exportIds)
  }

  /** The upstream URL of a completed export, for callers that prefer a redirect. */
  async outputUrl (actor: Actor, id: string): Promise<string | null> {
    const row = await this.completedRow(actor, id)
    // the gateway's copy outlives the upstream's URL: it is served instead
    return row.archiveState === 'archived' || row.archiveState === 'expired' ? null : row.outputUrl
  }

  private async completedRow (actor: Actor, id: string): Promise<ExportRow> {
    const row = await this.getRow(actor, id)
    if (row.status !== 'completed') {
      throw gwError('GW_ERR_EXPORT_NOT_READY', `Export ${id} is ${statusOf(row)}; download it once it has completed`, { extensions: { status: statusOf(row) } })
    }
    return row
  }
}

/** A completed export's file as the download route sends it. */
export interface ExportFile extends RenderDownload {
  /** The archived copy's sha256, quoted (served from the archive only). */
  etag?: string
}

function unsatisfiable (range: string, size: string): Error {
  return gwError('GW_ERR_RANGE_NOT_SATISFIABLE', `The range ${range} lies outside the file (${size} bytes); ask for bytes=0-${size === '*' ? '' : Number(size) - 1} or part of it`, {
    headers: { 'content-range': `bytes */${size}` }
  })
}

/**
 * The part of a file of `size` bytes a Range header asks for: undefined for the whole file (no
 * bytes range, or several ranges, which the gateway answers with the whole file as RFC 9110
 * allows), 'unsatisfiable' when no byte of the file is in it.
 */
function byteRange (header: string, size: number): { start: number, end: number } | 'unsatisfiable' | undefined {
  const verdict = rangeVerdict(header)
  if (verdict === 'ignore') return undefined
  if (verdict === 'unsatisfiable') return 'unsatisfiable'
  const specs = /^bytes=(.+)$/i.exec(header.trim())![1]!.split(',')
  if (specs.length > 1) return undefined
  const [, from, to] = /^(\d*)-(\d*)$/.exec(specs[0]!.trim())!
  if (from === '') {
    const n = Math.min(Number(to), size)
    return n === 0 ? 'unsatisfiable' : { start: size - n, end: size - 1 }
  }
  const start = Number(from)
  if (start >= size) return 'unsatisfiable'
  return { start, end: to === '' ? size - 1 : Math.min(Number(to), size - 1) }
}

/**
 * A Range header read by RFC 9110 §14.1.1: 'ignore' when it is not a bytes range the gateway
 * understands (the whole file is sent), 'unsatisfiable' when no file could satisfy it.
 */
function rangeVerdict (header: string): 'ignore' | 'check' | 'unsatisfiable' {
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
