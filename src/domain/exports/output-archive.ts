// The archive: a completed export's MP4 copied from the upstream into the gateway's own store,
// because the upstream's output URLs expire. One copy per durable job (pg-boss, queue
// `export-archive`), under a lease on the row that the copier renews as it goes, so one instance
// copies a file at a time and a copy whose instance died starts again once its lease lapses.
// The file is streamed through (never held whole), hashed and counted on the way, and only a
// complete file that matches the upstream's Content-Length becomes `archived`; that state, its
// size, sha256 and the `export.archived` event commit in one transaction, once. The retention
// sweep deletes files past OUTPUT_RETENTION_DAYS (the export says `expired`), and deleting a
// user or a tenant deletes their files.
import type { Export as ExportRow } from '../../generated/prisma/client.ts'
import { gwError } from '../../errors.ts'
import type { RenderDownload } from '../../nemo/client.ts'
import { isNemoError } from '../../nemo/errors.ts'
import type { DomainDeps } from '../common/index.ts'
import type { SessionEvents } from '../events/index.ts'
import type { Credentials } from '../tokens/index.ts'
import { EXPORT_ARCHIVE_QUEUE } from './model.ts'
import type { ByteRange, OutputStore } from './output-store.ts'

/** Waits between failed copies: 2 s, 4 s, 8 s... up to a minute. */
const RETRY_BASE_MS = 2000
const RETRY_MAX_MS = 60_000
const SWEEP_BATCH = 100
const DAY_MS = 24 * 3600_000

export interface ArchivedFile {
  stream: NodeJS.ReadableStream
  status: 200 | 206
  size: number
  contentLength: number
  contentRange?: string
  etag: string
}

export class OutputArchive {
  constructor (
    private readonly deps: DomainDeps,
    private readonly credentials: Credentials,
    private readonly events: SessionEvents,
    /** null: OUTPUT_STORAGE=off */
    readonly store: OutputStore | null
  ) {}

  /** Whether completed exports get an archive copy (OUTPUT_STORAGE is not `off`). */
  get enabled (): boolean {
    return this.store !== null
  }

  /** Queues the copy of a completed export (the reconciler queues any that were missed). */
  async schedule (id: string, delayMs = 0): Promise<void> {
    await this.deps.jobs?.schedule(EXPORT_ARCHIVE_QUEUE, { exportId: id }, { delayMs, key: id })
  }

  /**
   * One copy of one export's file (the job handler). Returns when to try again, or null when
   * nothing is left to do (archived, given up, or another instance holds the copy).
   */
  async copy (id: string): Promise<number | null> {
    const { prisma, config, log } = this.deps
    const store = this.store
    if (store === null) return null
    const now = Date.now()
    const claimed = await prisma.export.updateMany({
      where: { id, status: 'completed', archiveState: 'pending', OR: [{ archiveLockedUntil: null }, { archiveLockedUntil: { lt: new Date(now) } }] },
      data: { archiveLockedUntil: new Date(now + config.OUTPUT_COPY_LEASE_MS) }
    })
    if (claimed.count === 0) {
      const held = await prisma.export.findUnique({ where: { id }, select: { archiveState: true, archiveLockedUntil: true } })
      if (held?.archiveState !== 'pending' || held.archiveLockedUntil === null) return null
      // another copier has it: look again when its lease ends, in case it died
      return Math.max(0, held.archiveLockedUntil.getTime() - Date.now()) + 250
    }
    const row = await prisma.export.findUniqueOrThrow({ where: { id } })
    const key = `${row.tenantId}/${row.id}.mp4`
    const controller = new AbortController()
    // the lease is renewed while the bytes flow; a renewal that finds the row gone (deleted)
    // or taken stops the copy
    const renew = setInterval(() => {
      prisma.export.updateMany({ where: { id, archiveState: 'pending' }, data: { archiveLockedUntil: new Date(Date.now() + config.OUTPUT_COPY_LEASE_MS) } })
        .then(({ count }) => { if (count === 0) controller.abort() }, () => {})
    }, Math.max(100, Math.floor(config.OUTPUT_COPY_LEASE_MS / 3)))
    const started = performance.now()
    try {
      const file = await this.openUpstream(row, { signal: controller.signal })
      if (file.status !== 200) {
        file.stream.destroy()
        throw new Error(`the upstream answered ${file.status} for the whole file`)
      }
      const stored = await store.put(key, file.stream, {
        contentType: 'video/mp4',
        signal: controller.signal,
        ...(file.contentLength === undefined ? {} : { expectedSize: file.contentLength })
      })
      const onDisk = await store.stat(key)
      if (onDisk !== stored.size) throw new Error(`the stored copy has ${onDisk ?? 'no'} bytes, ${stored.size} were written`)
      const result = await prisma.$transaction(async (tx) => {
        const { count } = await tx.export.updateMany({
          where: { id, archiveState: 'pending' },
          data: {
            archiveState: 'archived',
            archiveStore: store.kind,
            archiveKey: key,
            archiveSize: BigInt(stored.size),
            archiveSha256: stored.sha256,
            archivedAt: new Date(),
            archiveLockedUntil: null,
            archiveNextAt: null,
            archiveError: null
          }
        })
        if (count === 0) return null
        return await this.events.appendIn(tx, row.sessionId, 'export.archived', { exportId: id, storage: store.kind, size: stored.size, sha256: stored.sha256 })
      })
      if (result === null) {
        // the export was deleted (or its user) while the bytes were on their way: no file outlives it
        await store.remove(key).catch(() => {})
        return null
      }
      this.events.publish(result)
      const seconds = (performance.now() - started) / 1000
      log.info({ exportId: id, storage: store.kind, bytes: stored.size, seconds: Math.round(seconds * 1000) / 1000 }, 'export file archived')
      return null
    } catch (err) {
      return await this.failed(row, err)
    } finally {
      clearInterval(renew)
    }
  }

  private async failed (row: ExportRow, err: unknown): Promise<number | null> {
    const attempts = row.archiveAttempts + 1
    const message = err instanceof Error ? err.message : String(err)
    const giveUp = attempts >= this.deps.config.OUTPUT_COPY_ATTEMPTS
    const wait = Math.min(RETRY_MAX_MS, RETRY_BASE_MS * 2 ** (attempts - 1))
    await this.deps.prisma.export.updateMany({
      where: { id: row.id, archiveState: 'pending' },
      data: {
        archiveAttempts: attempts,
        archiveLockedUntil: null,
        archiveError: message.slice(0, 500),
        ...(giveUp ? { archiveState: 'failed', archiveNextAt: null } : { archiveNextAt: new Date(Date.now() + wait) })
      }
    }).catch(() => {})
    this.deps.log.warn({ err, exportId: row.id, attempts }, giveUp ? 'could not archive the export file; downloads stream from the upstream' : 'could not archive the export file; will try again')
    return giveUp ? null : wait
  }

  /**
   * The export's file from the upstream, with the token that rendered it: the render proxy
   * first, and when it has forgotten the render, the output URL it gave.
   */
  async openUpstream (row: ExportRow, opts: { range?: string, signal?: AbortSignal }): Promise<RenderDownload> {
    const gone = () => gwError('GW_ERR_NOT_FOUND', `The file of export ${row.id} is no longer available`)
    if (row.renderId === null) throw gone()
    const lease = await this.credentials.leaseInAnyState(row.credentialId)
    if (!lease) throw gone()
    const o = { ...(opts.signal === undefined ? {} : { signal: opts.signal }), ...(opts.range === undefined ? {} : { range: opts.range }) }
    const missing = (err: unknown) => isNemoError(err) && err.httpStatus === 404
    try {
      return await this.deps.nemo.downloadRender(lease.token, row.renderId, o)
    } catch (err) {
      if (!missing(err)) throw err
    }
    // the render proxy forgot it: the output URL it gave may still serve the file
    if (row.outputUrl === null) throw gone()
    try {
      return await this.deps.nemo.downloadRender(lease.token, row.renderId, { ...o, url: row.outputUrl })
    } catch (err) {
      throw missing(err) ? gwError('GW_ERR_NOT_FOUND', `The upstream no longer has the file of export ${row.id} (its output URL has expired)`) : err
    }
  }

  /** The archived copy of an export, whole or one range of it. */
  async open (row: ExportRow, range?: ByteRange): Promise<ArchivedFile> {
    const store = this.storeOf(row)
    const size = Number(row.archiveSize)
    let stream: NodeJS.ReadableStream
    try {
      stream = await store.open(row.archiveKey!, range)
    } catch (err) {
      // the row says archived but the store has no such file: removed by hand, or a store
      // pointed elsewhere. The caller is told the file is gone; the operator is told why.
      if (!isMissing(err)) throw err
      this.deps.log.error({ err, exportId: row.id, storage: row.archiveStore, key: row.archiveKey }, 'an archived export file is missing from its store')
      throw gwError('GW_ERR_NOT_FOUND', `The archived file of export ${row.id} is missing`)
    }
    const etag = `"${row.archiveSha256!}"`
    if (range === undefined) return { stream, status: 200, size, contentLength: size, etag }
    return { stream, status: 206, size, contentLength: range.end - range.start + 1, contentRange: `bytes ${range.start}-${range.end}/${size}`, etag }
  }

  /**
   * Deletes the archived files of these exports (a user's or tenant's deletion, or a retention
   * pass over export rows) and forgets where they were. Returns how many files were removed.
   */
  async removeFiles (exportIds: string[]): Promise<number> {
    if (exportIds.length === 0) return 0
    const rows = await this.deps.prisma.export.findMany({ where: { id: { in: exportIds }, archiveKey: { not: null } } })
    let removed = 0
    for (const row of rows) {
      await this.storeOf(row).remove(row.archiveKey!)
      await this.deps.prisma.export.updateMany({ where: { id: row.id, archiveKey: row.archiveKey }, data: { archiveKey: null, ...(row.archiveState === 'archived' ? { archiveState: 'expired' } : {}) } })
      removed++
    }
    return removed
  }

  /**
   * Retention: archived files older than OUTPUT_RETENTION_DAYS are deleted, in batches. The
   * export is marked `expired` first (downloads stop serving it), then its file is removed; a
   * removal cut short is finished by the next pass (the row keeps its key until then).
   */
  async sweep (): Promise<number> {
    const days = this.deps.config.OUTPUT_RETENTION_DAYS
    if (days <= 0) return 0
    const { prisma } = this.deps
    const before = new Date(Date.now() - days * DAY_MS)
    let removed = 0
    for (;;) {
      const rows = await prisma.export.findMany({
        where: { OR: [{ archiveState: 'archived', archivedAt: { lt: before } }, { archiveState: 'expired', archiveKey: { not: null } }] },
        select: { id: true },
        take: SWEEP_BATCH
      })
      if (rows.length === 0) return removed
      const ids = rows.map((r) => r.id)
      await prisma.export.updateMany({ where: { id: { in: ids }, archiveState: 'archived' }, data: { archiveState: 'expired' } })
      removed += await this.removeFiles(ids)
      if (rows.length < SWEEP_BATCH) return removed
    }
  }

  /**
   * Copies that should be running but have no waiting job (a crash between the export's
   * completion and the job's scheduling, a restart): queued again. Safe on every instance.
   */
  async reconcile (): Promise<number> {
    if (this.store === null) return 0
    const rows = await this.deps.prisma.export.findMany({
      where: { status: 'completed', archiveState: 'pending' },
      select: { id: true, archiveNextAt: true, archiveLockedUntil: true }
    })
    for (const r of rows) {
      const due = Math.max(r.archiveNextAt?.getTime() ?? 0, r.archiveLockedUntil?.getTime() ?? 0)
      await this.schedule(r.id, Math.max(0, due - Date.now()))
    }
    return rows.length
  }

  private storeOf (row: ExportRow): OutputStore {
    // a file lives where it was made; a store that has since been switched off or changed
    // cannot reach it
    if (this.store === null || this.store.kind !== row.archiveStore) {
      throw gwError('GW_ERR_UNAVAILABLE', `The archived file of export ${row.id} is in the ${row.archiveStore ?? 'unknown'} store, which is not configured`)
    }
    return this.store
  }
}

/** A store's answer for an object that is not there (a local ENOENT, an S3 404). */
function isMissing (err: unknown): boolean {
  const e = err as { code?: string, name?: string, $metadata?: { httpStatusCode?: number } }
  return e?.code === 'ENOENT' || e?.name === 'NoSuchKey' || e?.$metadata?.httpStatusCode === 404
}
