// The only code that talks HTTP to the Nemo upstream. One keep-alive undici Pool with explicit
// connect/headers/body timeouts; the three X-Skill-* attribution headers on every call (the
// upstream answers 402 on export without them, contract §2.3); a bearer token on every call
// but anonymous-token. The client holds no tokens: each call gets one, optionally with the
// upstream user id so a 2001 can carry the right register/bind hint.
import { Readable } from 'node:stream'
import { Agent, Pool, type Dispatcher } from 'undici'
import { STREAM_LIMITS, type Config } from '../config.ts'
import { decodeEnvelope, isObject, type Decoded } from './envelope.ts'
import { fromStreamError, fromTransportError, NEMO_WEB_URL, NemoError } from './errors.ts'
import { endpointOf, outcomeOf, recordFirstEvent, recordUpstreamCall, upstreamStreamOpened } from './metrics.ts'
import type { NemoEvent } from './events.ts'
import { multipartFiles, type UploadSource } from './multipart.ts'
import { parseNemoSse } from './sse.ts'
import {
  readAnonymousToken, readClaimToken, readCredits, readRender, readSession, readState, readUploadedFiles,
  type AnonymousToken, type ClaimToken, type Credits, type NemoSessionRef, type RenderJob, type RenderStatus,
  type RenderStatusName, type SessionState, type UploadedFile
} from './wire.ts'

export interface NemoClientOptions {
  baseUrl: string
  skill: { source: string, version: string, platform: string }
  connectTimeoutMs: number
  headersTimeoutMs: number
  bodyTimeoutMs: number
  connections: number
  /**
   * Longest silence (no byte at all, not even a heartbeat) allowed before a `/run_sse` answer
   * or inside its body: TURN_SILENCE_MS. Past it the turn gets NemoError 'stream_silent'.
   */
  sseBodyTimeoutMs?: number
  /** The web app, for claim links and the 2001 hint. */
  webUrl?: string
  /** An upstream Retry-After is clamped to this many seconds (default RETRY_AFTER_MAX_SEC). */
  retryAfterMaxSec?: number
}

/** An upstream token, with the upstream user id when known (picks the 2001 hint). */
export type NemoAuth = string | { token: string, userId?: string }

export interface RunSseOptions {
  sessionId: string
  text: string
  signal?: AbortSignal
  /** Overrides `sseBodyTimeoutMs` for this turn. */
  bodyTimeoutMs?: number
}

export interface RenderRequest {
  id: string
  sessionId: string
  draft: unknown
  output?: Record<string, unknown>
}

export interface RenderDownload {
  stream: Readable
  /** 200, 206 when a range was asked for and the file's host honoured it, 416 when the range lies outside the file. */
  status: number
  contentType: string
  contentLength?: number
  contentRange?: string
  acceptRanges?: string
}

export type UploadFiles = Iterable<UploadSource> | AsyncIterable<UploadSource>
export type { UploadSource }

interface Call {
  method: 'GET' | 'POST'
  path: string
  auth: NemoAuth | null
  json?: unknown
  body?: Readable
  contentType?: string
  headers?: Record<string, string>
  signal?: AbortSignal
  bodyTimeout?: number
  headersTimeout?: number
  /** A GET sent now, never the answer of one already under way (`call`). */
  fresh?: boolean
}
const MAX_REDIRECTS = 5
const APP_NAME = 'nemo_agent'

export class NemoClient {
  private readonly pool: Pool
  private readonly origin: string
  private readonly prefix: string
  private readonly skillHeaders: Record<string, string>
  private readonly webUrl: string
  private readonly sseBodyTimeoutMs: number
  private readonly opts: NemoClientOptions
  private foreign?: Agent
  /** Reads in flight, by path and token: concurrent identical reads share one upstream call. */
  private readonly reads = new Map<string, Promise<Decoded>>()

  constructor (opts: NemoClientOptions) {
    const url = new URL(opts.baseUrl)
    this.opts = opts
    this.origin = url.origin
    this.prefix = url.pathname.replace(/\/+$/, '')
    this.webUrl = (opts.webUrl ?? NEMO_WEB_URL).replace(/\/+$/, '')
    this.sseBodyTimeoutMs = opts.sseBodyTimeoutMs ?? STREAM_LIMITS.TURN_SILENCE_MS
    this.skillHeaders = {
      'x-skill-source': opts.skill.source,
      'x-skill-version': opts.skill.version,
      'x-skill-platform': opts.skill.platform
    }
    this.pool = new Pool(this.origin, {
      connections: opts.connections,
      connect: { timeout: opts.connectTimeoutMs },
      headersTimeout: opts.headersTimeoutMs,
      bodyTimeout: opts.bodyTimeoutMs
    })
  }

  static fromConfig (config: Config, extra: Pick<NemoClientOptions, 'sseBodyTimeoutMs' | 'webUrl'> = {}): NemoClient {
    return new NemoClient({
      baseUrl: config.NEMO_BASE_URL,
      skill: { source: config.NEMO_SKILL_SOURCE, version: config.NEMO_SKILL_VERSION, platform: config.NEMO_SKILL_PLATFORM },
      connectTimeoutMs: config.NEMO_CONNECT_TIMEOUT_MS,
      headersTimeoutMs: config.NEMO_HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: config.NEMO_BODY_TIMEOUT_MS,
      // every admitted turn holds one stream for its whole run: it never waits for a connection
      connections: config.NEMO_POOL_CONNECTIONS + config.TURNS_MAX_IN_FLIGHT,
      retryAfterMaxSec: config.NEMO_RETRY_AFTER_MAX_SEC,
      sseBodyTimeoutMs: config.TURN_SILENCE_MS,
      ...extra
    })
  }

  /** Waits for in-flight calls; abort running turns (their signal) first. */
  /**
   * Can the upstream be reached at all? Any HTTP answer counts (no token is sent, nothing is
   * spent); a refused, unresolvable or silent host does not. For readiness reports.
   */
  async reachable (timeoutMs = 2000): Promise<boolean> {
    try {
      const res = await this.pool.request({ method: 'GET', path: this.prefix === '' ? '/' : this.prefix, headersTimeout: timeoutMs, bodyTimeout: timeoutMs, signal: AbortSignal.timeout(timeoutMs) })
      await res.body.dump()
      return true
    } catch {
      return false
    }
  }

  async close (): Promise<void> {
    await Promise.all([this.pool.close(), this.foreign?.close()])
  }

  /** Drops every connection at once, in-flight calls included. */
  async destroy (): Promise<void> {
    await Promise.all([this.pool.destroy(), this.foreign?.destroy()])
  }

  async mintAnonymousToken (clientId: string): Promise<AnonymousToken> {
    const { data } = await this.call({ method: 'POST', path: '/api/auth/anonymous-token', auth: null, headers: { 'x-client-id': clientId } })
    return readAnonymousToken(data)
  }

  async claimToken (auth: NemoAuth, ref: { taskId: string, sessionId: string }): Promise<ClaimToken> {
    const { data } = await this.call({ method: 'POST', path: '/api/auth/claim-token', auth, json: { task_id: ref.taskId, session_id: ref.sessionId } })
    return readClaimToken(data, this.webUrl)
  }

  async createSession (auth: NemoAuth, opts: { language?: string, taskName?: string } = {}): Promise<NemoSessionRef> {
    const json: Record<string, string> = { task_name: opts.taskName ?? 'project' }
    if (opts.language !== undefined) json.language = opts.language
    const { data } = await this.call({ method: 'POST', path: `/api/tasks/me/with-session/${APP_NAME}`, auth, json })
    return readSession(data)
  }

  /**
   * One chat turn as events. Nothing is sent until the first `next()`; the connection is
   * released when the stream ends, the consumer stops early (`break`/`return()`), the
   * signal aborts (the abort reason is thrown) or anything fails. A cut stream throws
   * NemoError 'stream_broken'; a clean close simply ends the iteration.
   */
  async * runSse (auth: NemoAuth, opts: RunSseOptions): AsyncGenerator<NemoEvent, void, undefined> {
    const silence = opts.bodyTimeoutMs ?? this.sseBodyTimeoutMs
    const started = performance.now()
    let outcome = '0'
    let res: Dispatcher.ResponseData
    try {
      res = await this.send({
        method: 'POST',
        path: `${this.prefix}/run_sse`,
        auth,
        headers: { accept: 'text/event-stream' },
        json: { app_name: APP_NAME, user_id: 'me', session_id: opts.sessionId, new_message: { parts: [{ text: opts.text }] } },
        signal: opts.signal,
        bodyTimeout: silence,
        // the turn may be running upstream already: a silent start is silence, not a refusal
        headersTimeout: silence
      })
    } catch (err) {
      const mapped = err instanceof NemoError && err.kind === 'timeout' ? new NemoError('stream_silent', { cause: err, upstreamMessage: err.upstreamMessage }) : err
      if (opts.signal?.aborted !== true) recordUpstreamCall('run_sse', outcomeOf(mapped), started)
      throw mapped
    }
    const closeStream = upstreamStreamOpened()
    try {
      const type = header(res.headers, 'content-type') ?? ''
      // Anything but an event stream is an error envelope, or an answer we cannot use.
      if (res.statusCode < 200 || res.statusCode >= 300 || !type.includes('text/event-stream')) {
        await this.decode(res, auth)
        throw new NemoError('bad_response', { httpStatus: res.statusCode, upstreamMessage: `expected text/event-stream, got ${type}` })
      }
      let first = true
      for await (const event of parseNemoSse(res.body)) {
        if (first) recordFirstEvent(started)
        first = false
        yield event
      }
    } catch (err) {
      if (opts.signal?.aborted === true) {
        outcome = 'aborted'
        throw opts.signal.reason
      }
      const mapped = fromStreamError(err)
      outcome = outcomeOf(mapped)
      throw mapped
    } finally {
      closeStream()
      recordUpstreamCall('run_sse', outcome, started)
      if (!res.body.readableEnded) res.body.destroy()
    }
  }

  /** Streams the files as one multipart body (field `files`), never buffering them. */
  async uploadFiles (auth: NemoAuth, sessionId: string, files: UploadFiles, opts: { signal?: AbortSignal } = {}): Promise<UploadedFile[]> {
    const form = multipartFiles(files)
    const { data } = await this.call({
      method: 'POST',
      path: `/api/upload-video/${APP_NAME}/me/${enc(sessionId)}`,
      auth,
      body: Readable.from(form.body, { objectMode: false }),
      contentType: form.contentType,
      signal: opts.signal
    })
    return readUploadedFiles(data)
  }

  async uploadUrls (auth: NemoAuth, sessionId: string, urls: string[]): Promise<UploadedFile[]> {
    const { data } = await this.call({ method: 'POST', path: `/api/upload-video/${APP_NAME}/me/${enc(sessionId)}`, auth, json: { urls, source_type: 'url' } })
    return readUploadedFiles(data)
  }

  /** `fresh`: a read sent now (what an action that just ended cost), not one already under way. */
  async getCredits (auth: NemoAuth, opts: { fresh?: boolean } = {}): Promise<Credits> {
    const { data } = await this.call({ method: 'GET', path: '/api/credits/balance/simple', auth, fresh: opts.fresh })
    return readCredits(data)
  }

  async getState (auth: NemoAuth, sessionId: string): Promise<SessionState> {
    const { data } = await this.call({ method: 'GET', path: `/api/state/${APP_NAME}/me/${enc(sessionId)}/latest`, auth })
    return readState(data, sessionId)
  }

  /** Export. `sessionId` is camelCase on the wire here, the one exception (§2.4). */
  async submitRender (auth: NemoAuth, req: RenderRequest, opts: { signal?: AbortSignal } = {}): Promise<RenderJob> {
    const json = { id: req.id, sessionId: req.sessionId, draft: req.draft, output: req.output ?? { format: 'mp4', quality: 'high' } }
    const { data, body } = await this.call({ method: 'POST', path: '/api/render/proxy/lambda', auth, json, signal: opts.signal })
    // The echo is not to be relied on (§3.8): our own id and "pending" fill the gaps.
    const d = isObject(data) ? data : {}
    const r = readRender({ status: 'pending', ...d }, body, req.id)
    return { id: r.id, status: r.status, progress: r.progress }
  }

  async getRender (auth: NemoAuth, id: string, opts: { signal?: AbortSignal } = {}): Promise<RenderStatus> {
    const { data, body } = await this.call({ method: 'GET', path: `/api/render/proxy/lambda/${enc(id)}`, auth, signal: opts.signal })
    return readRender(data, body, id)
  }

  /** The cancel answer is undocumented (§3.10); `status` is given only when it says something. */
  async cancelRender (auth: NemoAuth, id: string): Promise<{ id: string, status?: RenderStatusName }> {
    const { data, body } = await this.call({ method: 'POST', path: `/api/render/proxy/lambda/${enc(id)}/cancel`, auth })
    const d = isObject(data) ? data : {}
    if (d.cancelled === true || d.canceled === true) return { id, status: 'canceled' }
    return typeof d.status === 'string' ? { id, status: readRender(d, body, id).status } : { id }
  }

  /**
   * The rendered file as a stream. Redirects are followed by hand: the Pool is bound to the
   * API origin, and the bearer token is only ever sent there. A JSON answer that names the
   * file's URL (the sibling gateway's shape) is followed the same way.
   */
  async downloadRender (auth: NemoAuth, id: string, opts: { signal?: AbortSignal, range?: string, url?: string } = {}): Promise<RenderDownload> {
    let url = new URL(opts.url ?? `${this.prefix}/api/render/proxy/${enc(id)}/download`, this.origin)
    const headers: Record<string, string> = opts.range === undefined ? {} : { range: opts.range }
    for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
      const own = url.origin === this.origin
      const res = await this.send({ method: 'GET', path: url.pathname + url.search, auth: own ? auth : null, signal: opts.signal, headers }, own ? undefined : url.origin)
      const location = header(res.headers, 'location')
      const type = header(res.headers, 'content-type') ?? 'application/octet-stream'
      if (res.statusCode >= 300 && res.statusCode < 400 && location !== undefined) {
        await res.body.dump()
        url = new URL(location, url)
        continue
      }
      if (res.statusCode === 416) {
        // the range asked for lies outside the file: the caller's mistake, told with the size
        await res.body.dump()
        const out: RenderDownload = { stream: Readable.from([]), status: 416, contentType: type }
        const range = header(res.headers, 'content-range')
        if (range !== undefined) out.contentRange = range
        return out
      }
      if (res.statusCode < 200 || res.statusCode >= 300 || type.includes('json')) {
        const { data, body } = await this.decode(res, auth)
        const next = fileUrl(data) ?? fileUrl(body)
        if (next === undefined) throw new NemoError('bad_response', { upstreamMessage: 'download answered JSON without a file URL' })
        url = new URL(next, url)
        continue
      }
      const out: RenderDownload = { stream: res.body, status: res.statusCode, contentType: type }
      const length = Number(header(res.headers, 'content-length'))
      if (header(res.headers, 'content-length') !== undefined && Number.isFinite(length) && length >= 0) out.contentLength = length
      const range = header(res.headers, 'content-range')
      if (range !== undefined) out.contentRange = range
      const accept = header(res.headers, 'accept-ranges')
      if (accept !== undefined) out.acceptRanges = accept
      return out
    }
    throw new NemoError('bad_response', { upstreamMessage: 'too many redirects on download' })
  }

  private async call (c: Call): Promise<Decoded> {
    // a read nobody can cancel (no signal) is shared: 50 concurrent state or balance reads of
    // one token make one upstream call (the answers are read-only to every caller), unless it
    // must be sent after something that just happened (`fresh`)
    if (c.method !== 'GET' || c.signal !== undefined || c.fresh === true) return await this.callOnce(c)
    const token = c.auth === null ? '' : typeof c.auth === 'string' ? c.auth : c.auth.token
    const key = `${c.path}\0${token}`
    let pending = this.reads.get(key)
    if (pending === undefined) {
      pending = this.callOnce(c).finally(() => this.reads.delete(key))
      this.reads.set(key, pending)
    }
    return await pending
  }

  private async callOnce (c: Call): Promise<Decoded> {
    const started = performance.now()
    const endpoint = endpointOf(c.path)
    try {
      const decoded = await this.decode(await this.send({ ...c, path: this.prefix + c.path }), c.auth)
      recordUpstreamCall(endpoint, '0', started)
      return decoded
    } catch (err) {
      if (c.signal?.aborted !== true) recordUpstreamCall(endpoint, outcomeOf(err), started)
      throw err
    }
  }

  /** `c.path` is the full path on its origin; a foreign origin gets no token and no X-Skill-*. */
  private async send (c: Call, foreignOrigin?: string): Promise<Dispatcher.ResponseData> {
    const headers: Record<string, string> = { accept: 'application/json', ...this.skillHeaders, ...c.headers }
    const token = c.auth === null ? undefined : typeof c.auth === 'string' ? c.auth : c.auth.token
    if (token !== undefined) headers.authorization = `Bearer ${token}`
    let body: string | Readable | undefined
    if (c.json !== undefined) {
      headers['content-type'] = 'application/json'
      body = JSON.stringify(c.json)
    } else if (c.body !== undefined) {
      headers['content-type'] = c.contentType ?? 'application/octet-stream'
      body = c.body
    }
    const options: Dispatcher.RequestOptions = { method: c.method, path: c.path, headers, body, signal: c.signal }
    if (c.bodyTimeout !== undefined) options.bodyTimeout = c.bodyTimeout
    if (c.headersTimeout !== undefined) options.headersTimeout = c.headersTimeout
    try {
      if (foreignOrigin === undefined) return await this.pool.request(options)
      return await this.foreignAgent().request({ ...options, origin: foreignOrigin, headers: c.headers ?? {} })
    } catch (err) {
      if (c.signal?.aborted === true) throw c.signal.reason
      throw fromTransportError(err, false, foreignOrigin ?? this.origin)
    }
  }

  private async decode (res: Dispatcher.ResponseData, auth: NemoAuth | null): Promise<Decoded> {
    let text: string
    try {
      text = await res.body.text()
    } catch (err) {
      throw fromTransportError(err)
    }
    return decodeEnvelope(res.statusCode, text, {
      userId: auth !== null && typeof auth === 'object' ? auth.userId : undefined,
      webUrl: this.webUrl,
      retryAfter: header(res.headers, 'retry-after'),
      retryAfterMaxSec: this.opts.retryAfterMaxSec
    })
  }

  private foreignAgent (): Agent {
    this.foreign ??= new Agent({
      connect: { timeout: this.opts.connectTimeoutMs },
      headersTimeout: this.opts.headersTimeoutMs,
      bodyTimeout: this.opts.bodyTimeoutMs
    })
    return this.foreign
  }
}

function header (h: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const v = h[name]
  return Array.isArray(v) ? v[0] : v
}

function fileUrl (v: unknown): string | undefined {
  if (!isObject(v)) return undefined
  for (const c of [v.outputUrl, v.url, isObject(v.output) ? v.output.url : undefined]) {
    if (typeof c === 'string' && c !== '') return c
  }
  return undefined
}

function enc (segment: string): string {
  return encodeURIComponent(segment)
}
