// POST /api/upload-video/nemo_agent/me/:sid (contract §3.5). Files are streamed through a
// counting sha256 sink and never held in memory, so the simulator can take the gateway's 500 MB
// upload benchmark without becoming the bottleneck. Nothing is recorded until the whole request
// has been read: a rejected or aborted upload leaves no trace but a counter.
import { createHash, type Hash } from 'node:crypto'
import { Transform, Writable, type TransformCallback } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { FastifyPluginAsync, FastifyRequest } from 'fastify'
import type { SimContext } from '../context.ts'
import { fail, guard, ok, userOf } from '../guard.ts'
import type { SimSession } from '../state.ts'
import { mp4Info, type Mp4Info } from '../../media/mp4-info.ts'

const EXTENSIONS = {
  video: ['mp4', 'mov', 'avi', 'webm', 'mkv'],
  image: ['jpg', 'jpeg', 'png', 'gif', 'webp'],
  audio: ['mp3', 'wav', 'm4a', 'aac']
} as const
type FileKind = keyof typeof EXTENSIONS

const KINDS = new Map<string, FileKind>(
  (Object.keys(EXTENSIONS) as FileKind[]).flatMap((kind) => EXTENSIONS[kind].map((ext) => [ext, kind] as const))
)

function fileKind (filename: string): FileKind | undefined {
  const dot = filename.lastIndexOf('.')
  return dot < 0 ? undefined : KINDS.get(filename.slice(dot + 1).toLowerCase())
}

/** Files up to this size are kept in memory long enough to read their real media info. */
const INSPECT_MAX_BYTES = 32 * 1024 * 1024

/** Hashes and counts; past the limit it only counts, so the rest of the body can drain. */
class Meter extends Writable {
  bytes = 0
  private readonly hash: Hash = createHash('sha256')
  private kept: Buffer[] | null = []

  constructor (private readonly limit: number) {
    super()
  }

  get overflow (): boolean {
    return this.bytes > this.limit
  }

  override _write (chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.bytes += chunk.length
    if (!this.overflow) this.hash.update(chunk)
    if (this.kept !== null) {
      if (this.bytes <= INSPECT_MAX_BYTES) this.kept.push(chunk)
      else this.kept = null
    }
    cb()
  }

  /** What the file says about itself (MP4/MOV only), when it was small enough to keep. */
  media (): Mp4Info | null {
    return this.kept === null ? null : mp4Info(Buffer.concat(this.kept))
  }

  digest (): string {
    return this.hash.digest('hex')
  }
}

/** Holds each chunk until the configured average rate allows it through. */
class Throttle extends Transform {
  private readonly start = Date.now()
  private passed = 0

  constructor (private readonly bytesPerSec: number) {
    super()
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.passed += chunk.length
    const wait = this.start + (this.passed / this.bytesPerSec) * 1000 - Date.now()
    if (wait > 0) setTimeout(() => cb(null, chunk), wait)
    else cb(null, chunk)
  }
}

interface Received { filename: string, kind: FileKind, size: number, sha256: string, media?: Mp4Info | null }

/**
 * The file's real duration and picture size when it is an MP4 the simulator could read, else
 * plausible, deterministic metadata derived from the content hash.
 */
function describe (sessionId: string, f: Received): Record<string, unknown> {
  const n = parseInt(f.sha256.slice(0, 8), 16)
  const base = { filename: f.filename, file_type: f.kind, cdn_url: `https://cdn.nemo.local/uploads/${sessionId}/${f.sha256.slice(0, 16)}/${encodeURIComponent(f.filename)}` }
  const duration = 5 + (n % 116) + 0.5
  const real = f.media
  if (f.kind === 'video' && real != null && real.width !== null && real.height !== null) {
    return { ...base, duration: Math.round(real.durationMs) / 1000, width: real.width, height: real.height, fps: 30, hash: f.sha256 }
  }
  if (f.kind === 'video') return { ...base, duration, width: 1920, height: 1080, fps: 30, hash: f.sha256 }
  if (f.kind === 'image') return { ...base, width: 1920, height: 1080, hash: f.sha256 }
  return { ...base, duration, hash: f.sha256 }
}

type Outcome = { received: Received[] } | { code: number, message: string } | 'aborted'

async function readParts (ctx: SimContext, request: FastifyRequest): Promise<Outcome> {
  const received: Received[] = []
  let rejection: { code: number, message: string } | undefined
  const limit = ctx.options.uploadMaxBytes
  const rate = ctx.options.uploadThrottleBytesPerSec
  try {
    for await (const part of request.parts()) {
      if (part.type !== 'file') continue
      const kind = part.fieldname === 'files' ? fileKind(part.filename) : undefined
      if (part.fieldname === 'files' && kind === undefined) {
        rejection ??= { code: 4001, message: `unsupported file type: ${part.filename}` }
      }
      const meter = new Meter(limit)
      if (rate > 0) await pipeline(part.file, new Throttle(rate), meter)
      else await pipeline(part.file, meter)
      if (kind === undefined || rejection !== undefined) continue
      if (meter.overflow) {
        rejection = { code: 4002, message: `file too large: ${part.filename} exceeds ${limit} bytes` }
        continue
      }
      received.push({ filename: part.filename, kind, size: meter.bytes, sha256: meter.digest(), media: kind === 'video' ? meter.media() : null })
    }
  } catch (err) {
    const socket = request.raw.socket
    if (!request.raw.complete && (socket === null || socket.destroyed)) return 'aborted'
    throw err
  }
  return rejection ?? { received }
}

function record (ctx: SimContext, session: SimSession, received: Received[]): Array<Record<string, unknown>> {
  const files = received.map((f) => describe(session.sessionId, f))
  for (const [i, f] of received.entries()) {
    ctx.state.uploads.push({ filename: f.filename, size: f.size, sha256: f.sha256, session_id: session.sessionId })
    session.state.video_infos.push({ ...files[i], size: f.size })
  }
  session.version++
  return files
}

const uploadRoutes: FastifyPluginAsync<{ ctx: SimContext }> = async (app, { ctx }) => {
  app.post<{ Params: { sid: string } }>('/api/upload-video/nemo_agent/me/:sid', { onRequest: guard(ctx, 'upload', { auth: true }) }, async (request, reply) => {
    const session = ctx.state.sessionOf(userOf(request), request.params.sid)
    if (session === undefined) return fail(1002, 'session not found')

    if (!request.isMultipart()) {
      const body = (request.body ?? {}) as { urls?: unknown, source_type?: unknown }
      const urls = body.urls
      if (!Array.isArray(urls) || urls.length === 0 || !urls.every((u) => typeof u === 'string' && URL.canParse(u))) {
        return reply.code(400).send(fail(400, 'expected multipart field "files" or JSON {"urls":[...],"source_type":"url"}'))
      }
      const received: Received[] = []
      for (const url of urls as string[]) {
        const filename = decodeURIComponent(new URL(url).pathname.split('/').pop() ?? '')
        const kind = fileKind(filename)
        if (kind === undefined) return fail(4001, `unsupported file type: ${filename || url}`)
        received.push({ filename, kind, size: 0, sha256: createHash('sha256').update(url).digest('hex') })
      }
      const files = received.map((f) => describe(session.sessionId, f))
      for (const [i, f] of files.entries()) session.state.video_infos.push({ ...f, source_url: urls[i] })
      session.version++
      return ok({ files, session_state_applied: true })
    }

    const outcome = await readParts(ctx, request)
    if (outcome === 'aborted') {
      ctx.counters.abortedUploads++
      reply.hijack()
      return
    }
    if ('code' in outcome) return fail(outcome.code, outcome.message)
    if (outcome.received.length === 0) return reply.code(400).send(fail(400, 'no files in multipart field "files"'))
    const files = record(ctx, session, outcome.received)
    ctx.counters.completedUploads++
    return ok({ files, session_state_applied: true })
  })
}

export default uploadRoutes
