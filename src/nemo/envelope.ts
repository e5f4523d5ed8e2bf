// One decoder for the three response envelopes the upstream uses (contract §2.5), in the
// order NemoVideo's own client applies them: non-2xx first, then `{code,message,data}`,
// then the render proxy's `{success,data,error}`, else the body as is. FastAPI's
// `{detail}` only shows up on non-2xx answers; there it supplies the message.
import { classifyFailure, NemoError } from './errors.ts'
import { parseUpstreamJson } from './json.ts'

export interface DecodeContext {
  /** Upstream user id of the token used, to build the 2001 hint. */
  userId?: string
  webUrl?: string
  /** The raw Retry-After header of the response. */
  retryAfter?: string | null
  /** Retry-After is believed up to this many seconds. */
  retryAfterMaxSec?: number
}

export interface Decoded {
  /** The unwrapped payload (`data`, or the body itself when there is no envelope). */
  data: unknown
  /** The whole parsed body, for readers that accept fields at either level (render poll). */
  body: unknown
}

type Json = Record<string, unknown>

export function isObject (v: unknown): v is Json {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

/** Decode a response; throws a NemoError for every failure the upstream can express. */
export function decodeEnvelope (status: number, text: string, ctx: DecodeContext = {}): Decoded {
  const body = parseJson(text)
  const fail = (code: unknown, message: string | undefined): NemoError => classifyFailure({
    httpStatus: status, code, message, retryAfter: ctx.retryAfter, retryAfterMaxSec: ctx.retryAfterMaxSec, userId: ctx.userId, webUrl: ctx.webUrl
  })

  if (status < 200 || status >= 300) {
    const b = isObject(body) ? body : {}
    throw fail(b.code, messageOf(b) ?? (body === undefined ? text.slice(0, 200) : undefined))
  }
  if (body === undefined) {
    if (text.trim() === '') return { data: null, body: null }
    throw new NemoError('bad_response', { httpStatus: status, upstreamMessage: text.slice(0, 200) })
  }
  if (!isObject(body)) return { data: body, body }

  if ('code' in body && body.code !== null && body.code !== undefined) {
    if (body.code !== 0 && body.code !== '0') throw fail(body.code, messageOf(body))
    return { data: body.data ?? null, body }
  }
  if (typeof body.success === 'boolean') {
    if (!body.success) {
      const err = isObject(body.error) ? body.error : {}
      throw fail(err.code ?? body.code, messageOf(body))
    }
    return { data: body.data ?? body, body }
  }
  return { data: body, body }
}

/** The human message of an error body, whichever envelope carried it. */
function messageOf (b: Json): string | undefined {
  for (const v of [b.message, b.error, b.detail, b.msg]) {
    if (typeof v === 'string' && v !== '') return v
    if (isObject(v) && typeof v.message === 'string') return v.message
    // FastAPI 422: detail is a list of {loc, msg, type}.
    if (Array.isArray(v) && v.length > 0) return v.map((d) => isObject(d) && typeof d.msg === 'string' ? d.msg : JSON.stringify(d)).join('; ')
  }
  return undefined
}

function parseJson (text: string): unknown {
  if (text.trim() === '') return undefined
  try {
    return parseUpstreamJson(text)
  } catch {
    return undefined
  }
}
