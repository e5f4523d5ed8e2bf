// Every way the Nemo upstream can fail, mapped into the gateway catalog in this one file:
// body codes (1001/1002/2001/4001/4002, the sibling gateway's 1010/1011), HTTP statuses
// (401/402/404/429/5xx), FastAPI `detail` strings and undici `UND_ERR_*` transport errors.
// Callers branch on `kind`; the GW_ERR_* code is what the HTTP caller sees. Upstream wording
// is kept on `upstreamMessage` for logs, never in the detail, because 5xx details must not leak.
import { parseRetryAfter, RETRY_AFTER_MAX_SEC } from '../http/retry-after.ts'
import { GatewayError, type GwCode } from '../errors.ts'
import { ACCEPTED_FILE_TYPES_TEXT } from './file-types.ts'

export type NemoErrorKind =
  | 'token_invalid'
  | 'session_not_found'
  | 'credits_exhausted'
  | 'unsupported_file'
  | 'file_too_large'
  | 'plan_required'
  | 'rate_limited'
  | 'bad_request'
  | 'unavailable'
  | 'timeout'
  | 'bad_response'
  | 'stream_broken'
  | 'stream_silent'

const kinds: Record<NemoErrorKind, { code: GwCode, detail: string }> = {
  token_invalid: { code: 'GW_ERR_UPSTREAM_AUTH', detail: 'The upstream token is invalid or expired' },
  session_not_found: { code: 'GW_ERR_UPSTREAM_SESSION_NOT_FOUND', detail: 'The upstream session no longer exists' },
  credits_exhausted: { code: 'GW_ERR_CREDITS_EXHAUSTED', detail: 'The upstream account has no credits left' },
  unsupported_file: { code: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE', detail: `The upstream does not accept this file type (${ACCEPTED_FILE_TYPES_TEXT})` },
  file_too_large: { code: 'GW_ERR_PAYLOAD_TOO_LARGE', detail: 'The file is too large for the upstream; compress or trim it' },
  plan_required: { code: 'GW_ERR_PLAN_REQUIRED', detail: 'The upstream plan does not allow this; register to unlock export' },
  rate_limited: { code: 'GW_ERR_UPSTREAM_RATE_LIMITED', detail: 'The upstream is rate limiting' },
  bad_request: { code: 'GW_ERR_UPSTREAM_BAD_REQUEST', detail: 'The upstream refused the request' },
  unavailable: { code: 'GW_ERR_UPSTREAM_UNAVAILABLE', detail: 'The upstream is unavailable' },
  timeout: { code: 'GW_ERR_UPSTREAM_TIMEOUT', detail: 'The upstream timed out' },
  bad_response: { code: 'GW_ERR_UPSTREAM_BAD_RESPONSE', detail: 'The upstream answered with something the gateway cannot read' },
  stream_broken: { code: 'GW_ERR_UPSTREAM_UNAVAILABLE', detail: 'The upstream event stream broke off mid-turn' },
  stream_silent: { code: 'GW_ERR_UPSTREAM_TIMEOUT', detail: 'The upstream event stream went silent (not even a heartbeat)' }
}

export interface NemoErrorInit {
  upstreamCode?: number
  httpStatus?: number
  retryAfterSec?: number
  upstreamMessage?: string
  /** For credits_exhausted: the register/bind link or top-up text shown to the end user. */
  hint?: string
  detail?: string
  cause?: unknown
}

export class NemoError extends GatewayError {
  readonly kind: NemoErrorKind
  readonly upstreamCode?: number
  readonly httpStatus?: number
  readonly retryAfterSec?: number
  readonly upstreamMessage?: string

  constructor (kind: NemoErrorKind, init: NemoErrorInit = {}) {
    const { code, detail } = kinds[kind]
    const extensions: Record<string, unknown> = {}
    const headers: Record<string, string> = {}
    if (init.hint !== undefined) extensions.hint = init.hint
    if (kind === 'rate_limited' && init.retryAfterSec !== undefined) {
      extensions.retryAfter = init.retryAfterSec
      headers['Retry-After'] = String(init.retryAfterSec)
    }
    super(code, init.detail ?? detail, { extensions, headers, cause: init.cause })
    this.name = 'NemoError'
    this.kind = kind
    if (init.upstreamCode !== undefined) this.upstreamCode = init.upstreamCode
    if (init.httpStatus !== undefined) this.httpStatus = init.httpStatus
    if (init.retryAfterSec !== undefined) this.retryAfterSec = init.retryAfterSec
    if (init.upstreamMessage !== undefined) this.upstreamMessage = init.upstreamMessage
  }
}

export function isNemoError (err: unknown, kind?: NemoErrorKind): err is NemoError {
  return err instanceof NemoError && (kind === undefined || err.kind === kind)
}

// §2.2: substrings NemoVideo's own client treats as "the token is bad", whatever the status.
const AUTH_FAIL_PATTERNS = [
  'invalid authentication token', 'invalid token', 'invalid or expired',
  'missing authentication token', 'token not found', 'token has been revoked', 'token has expired'
]

const DEFAULT_RETRY_AFTER_SEC = 30 // the skill's advice: "retry in 30s once"
export const NEMO_WEB_URL = 'https://nemovideo.com'

export interface UpstreamFailure {
  httpStatus?: number
  /** The body `code` (number or numeric string), when there was one. */
  code?: unknown
  message?: string
  retryAfter?: string | null
  /** Retry-After is clamped to this many seconds (default RETRY_AFTER_MAX_SEC). */
  retryAfterMaxSec?: number
  /** Upstream user id, when the caller knows it: picks the 2001 hint. */
  userId?: string
  webUrl?: string
}

/** Body code and HTTP status of a failed call -> the one NemoError that describes it. */
export function classifyFailure (f: UpstreamFailure): NemoError {
  const upstreamCode = toCode(f.code)
  const base: NemoErrorInit = { upstreamMessage: f.message }
  if (upstreamCode !== undefined) base.upstreamCode = upstreamCode
  if (f.httpStatus !== undefined) base.httpStatus = f.httpStatus
  const message = (f.message ?? '').toLowerCase()

  switch (upstreamCode) {
    case 1001: case 1010: case 1011: return new NemoError('token_invalid', base)
    case 1002: return new NemoError('session_not_found', base)
    case 2001: return new NemoError('credits_exhausted', { ...base, hint: creditsHint(f.userId, f.webUrl) })
    case 4001: return new NemoError('unsupported_file', base)
    case 4002: return new NemoError('file_too_large', base)
  }
  if (AUTH_FAIL_PATTERNS.some((p) => message.includes(p))) return new NemoError('token_invalid', base)
  // A body code that looks like an HTTP status is read as one when the status itself is 2xx.
  const status = f.httpStatus !== undefined && f.httpStatus >= 300
    ? f.httpStatus
    : upstreamCode !== undefined && upstreamCode >= 400 && upstreamCode < 600 ? upstreamCode : f.httpStatus
  if (status === undefined || status < 400) return new NemoError('bad_request', base)
  if (status === 401) return new NemoError('token_invalid', base)
  if (status === 402) return new NemoError('plan_required', base)
  if (status === 404 && message.includes('session not found')) return new NemoError('session_not_found', base)
  if (status === 413) return new NemoError('file_too_large', base)
  if (status === 415) return new NemoError('unsupported_file', base)
  if (status === 429) {
    return new NemoError('rate_limited', { ...base, retryAfterSec: parseRetryAfter(f.retryAfter, Date.now(), f.retryAfterMaxSec) ?? Math.min(DEFAULT_RETRY_AFTER_SEC, f.retryAfterMaxSec ?? RETRY_AFTER_MAX_SEC) })
  }
  if (status === 408 || status === 504) return new NemoError('timeout', base)
  if (status >= 500) return new NemoError('unavailable', base)
  return new NemoError('bad_request', base)
}

/**
 * The one 2001 hint (contract §5): an anonymous user binds their work to a new account at
 * `register?bind=<anon id>`, anyone else tops up. The id is URL-encoded.
 */
export function creditsHint (userId?: string | null, webUrl: string = NEMO_WEB_URL): string {
  if (typeof userId === 'string' && userId.startsWith('anon_')) {
    return `${webUrl}/register?bind=${encodeURIComponent(userId)}`
  }
  return `The upstream account has no credits left: top up at ${webUrl}, or register a token that has credits left`
}

const TIMEOUT_CODES = new Set(['UND_ERR_CONNECT_TIMEOUT', 'UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'ETIMEDOUT'])
const UNAVAILABLE_CODES = new Set([
  'UND_ERR_SOCKET', 'UND_ERR_CLOSED', 'UND_ERR_DESTROYED', 'UND_ERR_INFO', 'UND_ERR_RES_CONTENT_LENGTH_MISMATCH',
  'UND_ERR_HEADERS_OVERFLOW', 'ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN',
  'EHOSTUNREACH', 'ENETUNREACH', 'ECONNABORTED'
])

/** The upstream could not be reached at all: no answer, nothing sent. */
const UNREACHABLE_CODES = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH', 'ENETUNREACH', 'UND_ERR_CONNECT_TIMEOUT'])

/**
 * Says which upstream and how to fix it: the host is configuration, not a secret, and a first
 * run on a machine without internet is the usual cause.
 */
function unreachableDetail (origin: string, code: string): string {
  return `The upstream ${origin} cannot be reached (${code}). Check NEMO_BASE_URL; to try the gateway without the Nemo service, run the simulator (npm run simulator) and start the gateway with NEMO_BASE_URL=http://127.0.0.1:4010`
}

/** True for the caller's own abort: that is never the upstream's fault and is rethrown as is. */
function isAbortError (err: unknown): boolean {
  const e = err as { name?: unknown, code?: unknown } | null
  return e !== null && typeof e === 'object' &&
    (e.name === 'AbortError' || e.code === 'UND_ERR_ABORTED' || e.code === 'ABORT_ERR')
}

function errorCode (err: unknown): string | undefined {
  const e = err as { code?: unknown, errors?: unknown[] } | null
  if (e === null || typeof e !== 'object') return undefined
  if (typeof e.code === 'string') return e.code
  // Happy-eyeballs connects fail with an AggregateError whose members carry the code.
  if (Array.isArray(e.errors)) return e.errors.map(errorCode).find((c) => c !== undefined)
  return undefined
}

/**
 * A thrown transport error -> NemoError. Aborts and errors that are not the upstream's
 * (e.g. a failing upload source stream) are returned unchanged so the caller rethrows them.
 * `midStream`: the response had started, so a dropped socket is a broken stream.
 */
export function fromTransportError (err: unknown, midStream = false, origin?: string): unknown {
  if (err instanceof NemoError || isAbortError(err)) return err
  const code = errorCode(err)
  if (code === undefined) return err
  if (origin !== undefined && !midStream && UNREACHABLE_CODES.has(code)) {
    return new NemoError(code === 'UND_ERR_CONNECT_TIMEOUT' ? 'timeout' : 'unavailable', { cause: err, upstreamMessage: code, detail: unreachableDetail(origin, code) })
  }
  if (TIMEOUT_CODES.has(code)) return new NemoError('timeout', { cause: err, upstreamMessage: code })
  if (UNAVAILABLE_CODES.has(code) || code.startsWith('UND_ERR')) {
    return new NemoError(midStream ? 'stream_broken' : 'unavailable', { cause: err, upstreamMessage: code })
  }
  return err
}

function toCode (code: unknown): number | undefined {
  if (typeof code === 'number' && Number.isFinite(code)) return code
  if (typeof code === 'string' && /^-?\d+$/.test(code.trim())) return Number(code)
  return undefined
}

/**
 * An error while reading a started event stream: a body timeout is silence, an abort stays an
 * abort, anything else is a break.
 */
export function fromStreamError (err: unknown): unknown {
  if (errorCode(err) === 'UND_ERR_BODY_TIMEOUT') return new NemoError('stream_silent', { cause: err, upstreamMessage: 'UND_ERR_BODY_TIMEOUT' })
  const mapped = fromTransportError(err, true)
  if (mapped instanceof NemoError || isAbortError(mapped)) return mapped
  return new NemoError('stream_broken', { cause: err, upstreamMessage: (err as Error | null)?.message })
}
