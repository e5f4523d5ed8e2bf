// Files given to a session, streamed through to the upstream and never held: each part of the
// caller's request is checked (type by extension and leading bytes, size while it flows),
// hashed and counted on its way into one upstream multipart body. The first file is judged
// before the upstream is called at all; a later file that fails, a file past the limit or a
// caller who goes away aborts the upstream request, so the upstream keeps nothing and no row
// is written. Rows are written only once the upstream has answered with its media info.
import { randomUUID } from 'node:crypto'
import type { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { Prisma, Upload as UploadRow } from '../../generated/prisma/client.ts'
import { gwError, isGatewayError } from '../../errors.ts'
import type { UploadSource } from '../../nemo/client.ts'
import type { UploadedFile } from '../../nemo/wire.ts'
import { after, pageOf, type Page } from '../common/index.ts'
import type { Actor, DomainDeps, Logger } from '../common/index.ts'
import type { SessionEvents } from '../events/index.ts'
import { addUsage } from '../usage/index.ts'
import { mediaTypeOf, type MediaType } from './media-types.ts'
import type { Sessions } from '../sessions/index.ts'
import { chunksOf, UploadMeter } from './upload-meter.ts'
import type { UploadView } from '../../schemas/upload.ts'
export type { UploadView } from '../../schemas/upload.ts'

/** One file of the caller's request, as it arrives. */
export interface IncomingFile {
  filename: string
  stream: Readable
}

export interface UploadResult {
  /** Names this request in the `upload.*` events of the session's log. */
  uploadRef: string
  items: UploadView[]
}

function uploadView (u: UploadRow): UploadView {
  return {
    id: u.id,
    sessionId: u.sessionId,
    name: u.name,
    kind: u.kind,
    mimeType: u.mimeType,
    size: u.size === null ? null : Number(u.size),
    sha256: u.sha256,
    sourceUrl: u.sourceUrl,
    cdnUrl: u.cdnUrl,
    duration: u.duration,
    width: u.width,
    height: u.height,
    fps: u.fps,
    createdAt: u.createdAt
  }
}

/** Progress is coalesced: one event per interval while bytes flow, and one when a file ends. */
const PROGRESS_INTERVAL_MS = 250

class ProgressLog {
  private last = 0
  private pending = 0
  private chain: Promise<void> = Promise.resolve()

  constructor (
    private readonly events: SessionEvents,
    private readonly sessionId: string,
    private readonly uploadRef: string,
    private readonly log: Logger
  ) {}

  report (index: number, filename: string, bytes: number, done: boolean): void {
    const now = Date.now()
    // a slow database must not queue events up behind the stream: skip ticks while one is written
    if (!done && (this.pending > 0 || now - this.last < PROGRESS_INTERVAL_MS)) return
    this.last = now
    this.append('upload.progress', { index, filename, bytes, done })
  }

  append (type: string, payload: Record<string, unknown>): void {
    this.pending++
    this.chain = this.chain
      .then(async () => { await this.events.append(this.sessionId, type, { uploadRef: this.uploadRef, ...payload }) })
      .catch((err: unknown) => this.log.warn({ err, sessionId: this.sessionId, type }, 'could not log an upload event'))
      .finally(() => { this.pending-- })
  }

  async flush (): Promise<void> {
    await this.chain
  }
}

interface Metered {
  filename: string
  type: MediaType
  meter: UploadMeter
}

function matchUpstream (uploaded: UploadedFile[], files: Array<{ filename: string }>, i: number): UploadedFile | undefined {
  // the upstream answers in request order; fall back to the name if it left one out
  if (uploaded.length === files.length) return uploaded[i]
  return uploaded.find((u) => u.filename === files[i]!.filename)
}

function upstreamInfo (u: UploadedFile | undefined): Pick<Prisma.UploadCreateManyInput, 'cdnUrl' | 'duration' | 'width' | 'height' | 'fps'> {
  return {
    cdnUrl: u?.cdnUrl || null,
    duration: u?.duration ?? null,
    width: u?.width === undefined ? null : Math.round(u.width),
    height: u?.height === undefined ? null : Math.round(u.height),
    fps: u?.fps ?? null
  }
}

function filenameOfUrl (url: string): string {
  const last = new URL(url).pathname.split('/').pop() ?? ''
  try {
    return decodeURIComponent(last)
  } catch {
    return last
  }
}

export class Uploads {
  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly events: SessionEvents
  ) {}

  /**
   * Streams the caller's files into one upstream upload. `signal` is the caller going away:
   * the upstream request is aborted with its reason.
   */
  async uploadFiles (actor: Actor, sessionId: string, files: AsyncIterable<IncomingFile>, opts: { signal?: AbortSignal } = {}): Promise<UploadResult> {
    // another tenant's or user's session is a 404 before a byte is read
    const session = await this.sessions.getRow(actor, sessionId)
    const uploadRef = randomUUID()
    const progress = new ProgressLog(this.events, session.id, uploadRef, this.deps.log)
    const ours = new AbortController()
    const signal = opts.signal === undefined ? ours.signal : AbortSignal.any([opts.signal, ours.signal])
    const metered: Metered[] = []
    const source = files[Symbol.asyncIterator]()

    const nextFile = async (): Promise<Metered | undefined> => {
      const r = await source.next()
      if (r.done === true) return undefined
      const { filename, stream } = r.value
      let type: MediaType
      try {
        type = mediaTypeOf(filename)
      } catch (err) {
        stream.destroy()
        throw err
      }
      const index = metered.length
      const meter = new UploadMeter({
        filename,
        type,
        maxBytes: this.deps.config.UPLOAD_MAX_BYTES,
        onProgress: (bytes, done) => progress.report(index, filename, bytes, done)
      })
      // the meter's own verdicts (415, 413) and a broken source stop the upstream request
      meter.once('error', (err) => ours.abort(err))
      pipeline(stream, meter).catch(() => {})
      const m = { filename, type, meter }
      metered.push(m)
      await meter.checked
      return m
    }

    const first = await nextFile()
    if (first === undefined) {
      throw gwError('GW_ERR_VALIDATION', 'Send at least one file in the multipart field "files"')
    }

    let streamed = false
    async function * parts (): AsyncGenerator<UploadSource> {
      streamed = true
      try {
        let file: Metered | undefined = first
        while (file !== undefined) {
          yield { filename: file.filename, contentType: file.type.mimeType, stream: chunksOf(file.meter) }
          file = await nextFile()
        }
      } catch (err) {
        ours.abort(err)
        throw err
      }
    }
    // a caller that stalls must not keep a failed upload waiting on its next byte
    const stopMeters = (): void => { for (const m of metered) if (!m.meter.destroyed) m.meter.destroy() }
    signal.addEventListener('abort', stopMeters, { once: true })

    try {
      const uploaded = await this.sessions.withSession(actor, sessionId, async ({ lease, upstreamSessionId }) => {
        // a streamed body cannot be sent twice: after a renewed token or session, the caller
        // resends. A light call first makes the pool settle now (a renewed token may not know
        // the session yet), so that the resend goes through.
        if (streamed) {
          await this.deps.nemo.getState(lease.token, upstreamSessionId)
          throw gwError('GW_ERR_UNAVAILABLE', 'The upstream token or session had to be renewed during the upload; send it again', {
            headers: { 'retry-after': '1' },
            extensions: { retryAfter: 1 }
          })
        }
        signal.throwIfAborted()
        return await this.deps.nemo.uploadFiles(lease.token, upstreamSessionId, parts(), { signal })
      })
      const rows = await this.record(actor, session.id, metered.map((m, i) => ({
        name: m.filename,
        kind: m.type.kind,
        mimeType: m.type.mimeType,
        size: BigInt(m.meter.bytes),
        sha256: m.meter.sha256 ?? null,
        ...upstreamInfo(matchUpstream(uploaded, metered, i))
      })), progress)
      return { uploadRef, items: rows }
    } catch (err) {
      if (streamed) {
        progress.append('upload.failed', {
          code: isGatewayError(err) ? err.code : 'GW_ERR_INTERNAL',
          callerAborted: opts.signal?.aborted === true
        })
        await progress.flush()
      }
      throw err
    } finally {
      signal.removeEventListener('abort', stopMeters)
      stopMeters()
    }
  }

  /** Files the upstream fetches itself; the names in the URLs must be of accepted types. */
  async uploadUrls (actor: Actor, sessionId: string, urls: string[]): Promise<UploadResult> {
    const session = await this.sessions.getRow(actor, sessionId)
    const named = urls.map((url) => {
      const filename = filenameOfUrl(url)
      return { url, filename, type: mediaTypeOf(filename || url) }
    })
    const uploaded = await this.sessions.withSession(actor, sessionId, async ({ lease, upstreamSessionId }) =>
      await this.deps.nemo.uploadUrls(lease.token, upstreamSessionId, urls))
    const uploadRef = randomUUID()
    const progress = new ProgressLog(this.events, session.id, uploadRef, this.deps.log)
    const rows = await this.record(actor, session.id, named.map((n, i) => ({
      name: n.filename || n.url,
      kind: n.type.kind,
      mimeType: n.type.mimeType,
      sourceUrl: n.url,
      ...upstreamInfo(matchUpstream(uploaded, named, i))
    })), progress)
    return { uploadRef, items: rows }
  }

  async list (actor: Actor, sessionId: string, opts: { cursor?: string, limit: number }): Promise<Page<UploadView>> {
    await this.sessions.getRow(actor, sessionId)
    const rows = await this.deps.prisma.upload.findMany({
      where: { sessionId, OR: after(opts.cursor, 'createdAt') },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.createdAt, uploadView)
  }

  private async record (actor: Actor, sessionId: string, files: Array<Omit<Prisma.UploadCreateManyInput, 'sessionId'>>, progress: ProgressLog): Promise<UploadView[]> {
    // one clock reading, a millisecond apart, so a request's files list in a stable order
    const at = Date.now()
    const bytes = files.reduce((n, f) => n + Number(f.size ?? 0), 0)
    const [, ...rows] = await this.deps.prisma.$transaction([
      addUsage(this.deps.prisma, actor, { uploads: files.length, uploadBytes: bytes }),
      ...files.map((f, i) => this.deps.prisma.upload.create({ data: { ...f, sessionId, createdAt: new Date(at + i) } }))
    ])
    await progress.flush()
    for (const row of rows) {
      progress.append('upload.completed', { uploadId: row.id, filename: row.name, kind: row.kind, size: row.size === null ? null : Number(row.size), sha256: row.sha256, cdnUrl: row.cdnUrl })
    }
    await progress.flush()
    return rows.map(uploadView)
  }
}
