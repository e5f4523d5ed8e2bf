// The export model: its statuses (the API's five over the table's six), the view, the
// render ids and the queue its polls run on. Shared by the request side (exports.ts), the
// render jobs (render-jobs.ts: submit and finish) and the poller (poller.ts).
import type { Export as ExportRow } from '../../generated/prisma/client.ts'
import { isGatewayError } from '../../errors.ts'
import { NemoError } from '../../nemo/errors.ts'
import type { Lease } from '../tokens/index.ts'
import type { ExportArchive, ExportError, ExportStatus, ExportView } from '../../schemas/export.ts'

export { type ExportError, type ExportStatus, type ExportView } from '../../schemas/export.ts'

export const EXPORT_POLL_QUEUE = 'export-poll'
/**
 * The poll queue as the job runner declares it: at most one waiting job per export (`short`),
 * and a worker that dies mid-poll leaves its job to expire and retry.
 */
export const EXPORT_POLL_QUEUE_OPTIONS = { name: EXPORT_POLL_QUEUE, policy: 'short', retryLimit: 5, retryDelay: 5, expireInSeconds: 120 } as const

export const EXPORT_ARCHIVE_QUEUE = 'export-archive'
/** The archive copy's queue: one waiting job per export, like the polls. */
export const EXPORT_ARCHIVE_QUEUE_OPTIONS = { name: EXPORT_ARCHIVE_QUEUE, policy: 'short', retryLimit: 5, retryDelay: 5, expireInSeconds: 3600 } as const

export type ExportQuality = 'high' | 'medium' | 'low'

export interface ExportOptions {
  format: 'mp4'
  quality: ExportQuality
  resolution?: string
  /** A chat turn was running when the timeline was read: its edits are not in the render. */
  runningTurnId?: string
}

export const ACTIVE: Array<ExportRow['status']> = ['queued', 'pending', 'processing']
/**
 * How long one poll may hold an export. The upstream call inside it is cut a few seconds
 * before, so a lease never outlives its poll; an instance killed mid-poll delays that export
 * by at most this much.
 */
export const POLL_LEASE_MS = 20_000
export const POLL_CALL_MS = 15_000
/** A failed or lost render is submitted again once, with a new render id. */
export const MAX_ATTEMPTS = 2
/** A render whose submitting token died is submitted again once, with the user's current token. */
export const MAX_TOKEN_RESUBMITS = 1
/** The lease a submitter holds on a queued row, beyond the submit call's own timeout. */
export const SUBMIT_LEASE_MARGIN_MS = 5_000
/** How long a call with a key waits for another call's submit of that key before answering `queued`. */
export const SETTLE_WAIT_MS = 5_000

/** The upstream may or may not have accepted a call that ended like this: ask it, do not assume. */
export function isAmbiguous (err: unknown): boolean {
  if (!(err instanceof NemoError)) return !isGatewayError(err)
  return err.kind === 'timeout' || err.kind === 'unavailable' || err.kind === 'bad_response' || err.kind === 'stream_broken'
}

export function renderIdFor (exportId: string, attempt: number): string {
  const base = `render_${exportId.replace(/-/g, '')}`
  return attempt === 1 ? base : `${base}_${attempt}`
}

export function statusOf (row: Pick<ExportRow, 'status'>): ExportStatus {
  switch (row.status) {
    case 'queued': return 'queued'
    case 'pending': case 'processing': return 'rendering'
    case 'completed': return 'completed'
    case 'failed': return 'failed'
    case 'canceled': return 'cancelled'
  }
}

export function dbStatuses (status: ExportStatus): Array<ExportRow['status']> {
  switch (status) {
    case 'queued': return ['queued']
    case 'rendering': return ['pending', 'processing']
    case 'completed': return ['completed']
    case 'failed': return ['failed']
    case 'cancelled': return ['canceled']
  }
}

export type Final = { status: 'completed', outputUrl: string | null } | { status: 'failed', error: ExportError } | { status: 'canceled' }

/** The stable gateway URL of an export's file (what webhooks and events carry). */
export function downloadUrlOf (publicBaseUrl: string, id: string): string {
  return `${publicBaseUrl}/v1/exports/${id}/download`
}

export function exportView (row: ExportRow, publicBaseUrl: string): ExportView {
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
    downloadUrl: status === 'completed' ? downloadUrlOf(publicBaseUrl, row.id) : null,
    archive: status === 'completed' ? archiveView(row) : null,
    error: errorView(row.error),
    createdAt: row.createdAt,
    startedAt: row.startedAt,
    completedAt: row.completedAt,
    nextPollAt: ACTIVE.includes(row.status) ? row.nextPollAt : null,
    updatedAt: row.updatedAt
  }
}

export function authOf (lease: Lease): { token: string, userId?: string } {
  return { token: lease.token, ...(lease.upstreamUserId === null ? {} : { userId: lease.upstreamUserId }) }
}

function archiveView (row: ExportRow): ExportArchive {
  const archived = row.archiveState === 'archived'
  return {
    state: row.archiveState ?? 'off',
    storage: archived ? row.archiveStore as ExportArchive['storage'] : null,
    size: archived && row.archiveSize !== null ? Number(row.archiveSize) : null,
    sha256: archived ? row.archiveSha256 : null,
    archivedAt: row.archiveState === 'archived' || row.archiveState === 'expired' ? row.archivedAt : null,
    error: row.archiveState === 'failed' ? row.archiveError : null
  }
}

function errorView (stored: unknown): ExportError | null {
  if (stored === null || typeof stored !== 'object') return null
  const e = stored as Partial<ExportError>
  return { reason: e.reason ?? 'unknown', message: e.message ?? '', retryable: e.retryable ?? false }
}

export function isDuplicateId (err: unknown): boolean {
  return err instanceof NemoError && err.kind === 'bad_request' && /duplicate|already exists/i.test(err.upstreamMessage ?? '')
}
