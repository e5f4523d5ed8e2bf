// The render proxy (contract §3.8-3.11). Unlike the rest of the API it answers in
// {success,data,error}. A job's status is a pure function of elapsed time, so polls need no
// timers; its fate (fail or not, and when) is fixed at submit time from the seed and the id.
import { Readable } from 'node:stream'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify'
import type { SimContext } from '../context.ts'
import { isExportable, outputShape } from '../draft.ts'
import { guard, userOf } from '../guard.ts'
import { renderMp4 } from '../mp4.ts'
import { unitHash } from '../prng.ts'
import type { RenderJob } from '../state.ts'

const ATTRIBUTION = ['x-skill-source', 'x-skill-version', 'x-skill-platform']

interface JobView {
  status: 'pending' | 'processing' | 'completed' | 'failed'
  progress: number
  error?: string
  completedAt?: number
}

function progressAt (ms: number, duration: number): number {
  return ms < duration * 0.1 ? 5 : Math.min(99, 5 + Math.floor((90 * ms) / duration))
}

function viewJob (job: RenderJob, now: number): JobView {
  const elapsed = now - job.createdAt
  const cancelAt = job.cancelledAt === null ? Infinity : job.cancelledAt - job.createdAt
  const failAt = Math.min(job.failAfterMs ?? Infinity, cancelAt)
  if (failAt < job.durationMs && elapsed >= failAt) {
    return { status: 'failed', progress: progressAt(failAt, job.durationMs), error: failAt === cancelAt ? 'cancelled' : job.failReason }
  }
  if (elapsed >= job.durationMs) return { status: 'completed', progress: 100, completedAt: job.createdAt + job.durationMs }
  return { status: elapsed < job.durationMs * 0.1 ? 'pending' : 'processing', progress: progressAt(elapsed, job.durationMs) }
}

function outputUrl (request: FastifyRequest, id: string): string {
  return `${request.protocol}://${request.host}/render-result/${encodeURIComponent(id)}.mp4`
}

/** Shape A (data.outputUrl), shape B (top-level status, output.url) or both at once (§3.9). */
function pollBody (ctx: SimContext, request: FastifyRequest, job: RenderJob): unknown {
  const v = viewJob(job, Date.now())
  const url = v.status === 'completed' ? outputUrl(request, job.id) : undefined
  const a = { id: job.id, status: v.status, progress: v.progress, outputUrl: url, error: v.error, createdAt: job.createdAt, completedAt: v.completedAt }
  const b = {
    taskId: job.id,
    status: v.status,
    progress: v.progress,
    output: url === undefined ? undefined : { url, duration: job.output.durationMs / 1000, size: outputFile(ctx, job).length },
    error: v.error
  }
  if (ctx.options.pollShape === 'A') return { success: true, data: a }
  if (ctx.options.pollShape === 'B') return b
  return { success: true, ...b, data: a }
}

let padded: { key: string, file: Buffer } | undefined

/** The job's MP4, padded to `outputBytes` with a trailing `free` box (kept for the last shape). */
function outputFile (ctx: SimContext, job: RenderJob): Buffer {
  const file = renderMp4(job.output)
  const want = ctx.options.outputBytes
  if (want <= file.length + 8) return file
  const key = `${file.length}:${want}:${job.output.width}x${job.output.height}x${job.output.durationMs}`
  if (padded?.key !== key) {
    const out = Buffer.allocUnsafe(want)
    file.copy(out, 0)
    out.writeUInt32BE(want - file.length, file.length)
    out.write('free', file.length + 4, 'latin1')
    // not zeros: a byte served from the wrong offset shows in a checksum
    for (let i = file.length + 8; i < want; i++) out[i] = (i * 31) & 0xff
    padded = { key, file: out }
  }
  return padded.file
}

/** Whether the job's file has outlived `outputTtlMs` (the upstream's URLs for it are dead). */
function outputExpired (ctx: SimContext, job: RenderJob, completedAt: number | undefined): boolean {
  const ttl = ctx.options.outputTtlMs
  return ttl !== null && completedAt !== undefined && Date.now() >= completedAt + ttl
}

/** `bytes` sent at `perSec` bytes per second, in 20 slices a second. */
function trickle (bytes: Buffer, perSec: number): Readable {
  const slice = Math.max(1024, Math.floor(perSec / 20))
  let at = 0
  let timer: NodeJS.Timeout | undefined
  return new Readable({
    read () {
      if (timer !== undefined) return
      timer = setTimeout(() => {
        timer = undefined
        const next = bytes.subarray(at, at + slice)
        at += next.length
        this.push(next.length > 0 ? next : null)
      }, Math.round(1000 * slice / perSec))
    },
    destroy (err, done) {
      clearTimeout(timer)
      done(err)
    }
  })
}

/** The job's MP4, honouring a single `Range: bytes=a-b` as a CDN would (206 + Content-Range). */
function sendMp4 (ctx: SimContext, request: FastifyRequest, reply: FastifyReply, job: RenderJob): FastifyReply {
  const { id } = job
  const file = outputFile(ctx, job)
  const perSec = ctx.options.outputBytesPerSec
  const send = (bytes: Buffer) => reply.header('content-length', bytes.length).send(perSec > 0 ? trickle(bytes, perSec) : bytes)
  reply.type('video/mp4').header('accept-ranges', 'bytes')
    .header('content-disposition', `attachment; filename="${id.replace(/[^\w.-]/g, '_')}.mp4"`)
  const m = /^bytes=(\d*)-(\d*)$/.exec(String(request.headers.range ?? ''))
  if (m === null || (m[1] === '' && m[2] === '')) return send(file)
  const start = m[1] === '' ? Math.max(0, file.length - Number(m[2])) : Number(m[1])
  const end = m[1] === '' || m[2] === '' ? file.length - 1 : Math.min(Number(m[2]), file.length - 1)
  if (start > end || start >= file.length) return reply.code(416).header('content-range', `bytes */${file.length}`).send()
  reply.code(206).header('content-range', `bytes ${start}-${end}/${file.length}`)
  return send(file.subarray(start, end + 1))
}

const renderRoutes: FastifyPluginAsync<{ ctx: SimContext }> = async (app, { ctx }) => {
  const jobOf = (request: FastifyRequest<{ Params: { id: string } }>): RenderJob | undefined => {
    const job = ctx.state.renders.get(request.params.id)
    return job !== undefined && job.userId === userOf(request).userId ? job : undefined
  }

  app.post('/api/render/proxy/lambda', { onRequest: guard(ctx, 'render-submit', { auth: true }) }, async (request, reply) => {
    // Contract §2.3: exports without the three X-Skill-* headers are refused as "free plan",
    // and so is one attributed to another skill than the configured one.
    if (ctx.options.requireAttribution && (ATTRIBUTION.some((h) => typeof request.headers[h] !== 'string' || request.headers[h] === '') ||
      request.headers['x-skill-source'] !== ctx.options.skillSource)) {
      return reply.code(402).send({ success: false, error: 'Payment required: export is not available on the free plan' })
    }
    const body = (request.body ?? {}) as { id?: unknown, sessionId?: unknown, draft?: unknown }
    if (typeof body.id !== 'string' || body.id === '') return reply.code(400).send({ success: false, error: 'id is required' })
    if (ctx.state.renders.has(body.id)) return { success: false, error: 'duplicate id' }
    const user = userOf(request)
    const sessionId = typeof body.sessionId === 'string' ? body.sessionId : null
    if (sessionId !== null && ctx.state.sessionOf(user, sessionId) === undefined) {
      return reply.code(404).send({ success: false, error: 'session not found' })
    }
    if (ctx.options.renderCost > 0) {
      if (!ctx.state.freeze(user, ctx.options.renderCost)) return { code: 2001, message: 'insufficient credits' }
      ctx.state.spend(user, ctx.options.renderCost)
    }
    const { renderDurationMs: durationMs, renderFailureRate, seed } = ctx.options
    const valid = isExportable(body.draft)
    const unlucky = unitHash(seed, body.id) < renderFailureRate
    const job: RenderJob = {
      id: body.id,
      userId: user.userId,
      sessionId,
      createdAt: Date.now(),
      durationMs,
      failAfterMs: valid && !unlucky ? null : Math.floor(durationMs / 2),
      failReason: valid ? 'render failed: lambda worker timed out' : 'invalid draft',
      cancelledAt: null,
      output: outputShape(body.draft)
    }
    ctx.state.renders.set(job.id, job)
    if (ctx.options.renderAcceptDelayMs > 0) await sleep(ctx.options.renderAcceptDelayMs)
    return { success: true, data: { id: job.id, status: 'pending', progress: 5 } }
  })

  app.get<{ Params: { id: string } }>('/api/render/proxy/lambda/:id', { onRequest: guard(ctx, 'render-poll', { auth: true }) }, async (request, reply) => {
    const job = jobOf(request)
    if (job === undefined) return reply.code(404).send({ success: false, error: 'render not found' })
    return pollBody(ctx, request, job)
  })

  app.post<{ Params: { id: string } }>('/api/render/proxy/lambda/:id/cancel', { onRequest: guard(ctx, 'render-cancel', { auth: true }) }, async (request, reply) => {
    const job = jobOf(request)
    if (job === undefined) return reply.code(404).send({ success: false, error: 'render not found' })
    const { status } = viewJob(job, Date.now())
    if (status === 'completed' || status === 'failed') return { success: false, error: `render already ${status}` }
    job.cancelledAt = Date.now()
    return { success: true, data: { id: job.id, status: 'failed', cancelled: true } }
  })

  app.get<{ Params: { id: string } }>('/api/render/proxy/:id/download', { onRequest: guard(ctx, 'download', { auth: true }) }, async (request, reply) => {
    const job = jobOf(request)
    if (job === undefined) return reply.code(404).send({ success: false, error: 'render not found' })
    const view = viewJob(job, Date.now())
    if (view.status !== 'completed') return reply.code(409).send({ success: false, error: 'render not completed' })
    if (outputExpired(ctx, job, view.completedAt)) return reply.code(404).send({ success: false, error: 'render output expired' })
    return sendMp4(ctx, request, reply, job)
  })

  // Stands in for the public CDN (static1.nemovideo.ai) that outputUrl points to: no auth.
  app.get<{ Params: { file: string } }>('/render-result/:file', { onRequest: guard(ctx, 'render-result', { auth: false }) }, async (request, reply) => {
    const id = request.params.file.replace(/\.mp4$/, '')
    const job = ctx.state.renders.get(id)
    const view = job === undefined ? undefined : viewJob(job, Date.now())
    if (job === undefined || view?.status !== 'completed' || outputExpired(ctx, job, view.completedAt)) return reply.code(404).send('Not Found')
    return sendMp4(ctx, request, reply, job)
  })
}

export default renderRoutes
