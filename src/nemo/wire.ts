// The upstream's snake_case payloads -> the gateway's camelCase types. Readers are tolerant
// (missing fields get neutral defaults) except where a missing field would make the answer
// useless (no token, no session id, no render status): that is a 'bad_response'.
import { isObject } from './envelope.ts'
import { NemoError } from './errors.ts'

type Json = Record<string, unknown>

export interface AnonymousToken { token: string, userId?: string, expiresAt: Date, credits?: number }
export interface ClaimToken { claimToken: string, expiresInSec: number, claimUrl: string }
export interface NemoSessionRef { taskId: string, sessionId: string, userId?: string }
export interface UploadedFile {
  filename: string
  fileType: string
  cdnUrl: string
  duration?: number
  width?: number
  height?: number
  fps?: number
  hash?: string
}
export interface Credits { available: number, frozen: number, total: number }
export interface SessionState {
  sessionId: string
  taskId?: string
  taskName?: string
  state: {
    videoInfos: unknown[]
    /** The timeline draft as the upstream sent it; read it with draft.ts. */
    draft: unknown
    canvasConfig: Record<string, unknown> | null
    videoAnalyses: unknown
    generatedMedia: unknown[]
  }
}
export type RenderStatusName = 'pending' | 'processing' | 'completed' | 'failed' | 'canceled'
export interface RenderJob { id: string, status: RenderStatusName, progress: number }
export interface RenderStatus extends RenderJob { outputUrl?: string, error?: string, rawStatus: string }

const ANON_TOKEN_TTL_MS = 7 * 24 * 3600 * 1000
const CLAIM_TOKEN_TTL_SEC = 604800
/** What a first anonymous mint grants (contract §3.1, §6). */
export const ANONYMOUS_MINT_CREDITS = 100

export function readAnonymousToken (data: unknown, now = Date.now()): AnonymousToken {
  const d = obj(data)
  const token = need(d.token, 'token')
  const expires = typeof d.expires_at === 'string' ? new Date(d.expires_at) : undefined
  // Examples since c74ec3b elide expires_at; the documented TTL is 7 days. A date past that,
  // or one already gone (a fresh token would be re-minted at once), is not believed.
  const at = expires?.getTime()
  const out: AnonymousToken = {
    token,
    expiresAt: at !== undefined && !Number.isNaN(at) && at > now ? new Date(Math.min(at, now + ANON_TOKEN_TTL_MS)) : new Date(now + ANON_TOKEN_TTL_MS)
  }
  // user_id is elided in examples since c74ec3b; create-session may supply it later
  const userId = str(d.user_id)
  if (userId !== undefined && userId !== '') out.userId = userId
  // a mint is never lost to a bad credits field: it is only left out
  const credits = count(d.credits)
  if (credits !== undefined) out.credits = credits
  return out
}

export function readClaimToken (data: unknown, webUrl: string): ClaimToken {
  const d = obj(data)
  const claimToken = need(d.claim_token, 'claim_token')
  return {
    claimToken,
    // the documented lifetime is 7 days: a longer or unreadable one is not believed
    expiresInSec: Math.min(count(d.expires_in) ?? CLAIM_TOKEN_TTL_SEC, CLAIM_TOKEN_TTL_SEC),
    claimUrl: `${webUrl}/workspace/claim?ct=${encodeURIComponent(claimToken)}`
  }
}

export function readSession (data: unknown): NemoSessionRef {
  const d = obj(data)
  const ref: NemoSessionRef = { taskId: str(d.task_id) ?? '', sessionId: need(d.session_id, 'session_id') }
  const userId = str(d.user_id)
  if (userId !== undefined) ref.userId = userId
  return ref
}

export function readUploadedFiles (data: unknown): UploadedFile[] {
  const files = obj(data).files
  if (!Array.isArray(files)) throw bad('files')
  return files.filter(isObject).map((f) => {
    const out: UploadedFile = { filename: str(f.filename) ?? '', fileType: str(f.file_type) ?? 'unknown', cdnUrl: str(f.cdn_url) ?? '' }
    // media numbers from the upstream are kept only when a column can hold them
    for (const k of ['duration', 'fps'] as const) {
      const v = num(f[k])
      if (v !== undefined && v >= 0 && v < 1e9) out[k] = v
    }
    for (const k of ['width', 'height'] as const) {
      const v = count(f[k])
      if (v !== undefined && v <= MAX_INT32) out[k] = v
    }
    const hash = str(f.hash)
    if (hash !== undefined) out.hash = hash
    return out
  })
}

/**
 * A balance is non-negative integers (an absent `frozen` is 0, an absent `total` the sum).
 * Anything else ("lots", -5, 1e308, 1.5) is a bad answer, never a number to count spend from.
 */
export function readCredits (data: unknown): Credits {
  const d = obj(data)
  const field = (name: 'available' | 'frozen' | 'total', fallback?: number): number => {
    if (d[name] === undefined && fallback !== undefined) return fallback
    const v = count(d[name])
    if (v === undefined) throw bad(name)
    return v
  }
  const available = field('available')
  const frozen = field('frozen', 0)
  return { available, frozen, total: field('total', available + frozen) }
}

export function readState (data: unknown, sessionId: string): SessionState {
  const d = obj(data)
  const s = isObject(d.state) ? d.state : {}
  const out: SessionState = {
    sessionId: str(d.session_id) ?? sessionId,
    state: {
      videoInfos: Array.isArray(s.video_infos) ? s.video_infos : [],
      draft: s.draft ?? null,
      canvasConfig: isObject(s.canvas_config) ? s.canvas_config : null,
      videoAnalyses: s.video_analyses ?? null,
      generatedMedia: Array.isArray(s.generated_media) ? s.generated_media : []
    }
  }
  const taskId = str(d.task_id)
  const taskName = str(d.task_name)
  if (taskId !== undefined) out.taskId = taskId
  if (taskName !== undefined) out.taskName = taskName
  return out
}

/**
 * A render answer in poll shape A (`{success,data:{status,outputUrl}}`), shape B (top-level
 * `status`, `output.url`, `taskId`) or a superset: `data` wins, then the top level (§3.9).
 */
export function readRender (data: unknown, body: unknown, fallbackId: string): RenderStatus {
  const d = isObject(data) ? data : {}
  const b = isObject(body) ? body : {}
  const rawStatus = str(d.status) ?? str(b.status)
  if (rawStatus === undefined) throw bad('status')
  const status = normalizeStatus(rawStatus)
  const out: RenderStatus = {
    id: str(d.id) ?? str(b.id) ?? str(d.taskId) ?? str(b.taskId) ?? fallbackId,
    status,
    rawStatus,
    progress: percent(num(d.progress) ?? num(b.progress)) ?? (status === 'completed' ? 100 : 0)
  }
  const outputUrl = str(d.outputUrl) ?? str(b.outputUrl) ?? urlOf(b.output) ?? urlOf(d.output)
  if (outputUrl !== undefined) out.outputUrl = outputUrl
  const error = errorText(d.error) ?? errorText(b.error)
  if (error !== undefined) out.error = error
  return out
}

const STATUS_ALIASES: Record<string, RenderStatusName> = Object.fromEntries(Object.entries({
  pending: ['pending', 'queued', 'waiting', 'submitted'],
  processing: ['processing', 'running', 'rendering', 'in_progress'],
  completed: ['completed', 'complete', 'succeeded', 'success', 'done'],
  failed: ['failed', 'failure', 'error'],
  canceled: ['canceled', 'cancelled']
} satisfies Record<RenderStatusName, string[]>).flatMap(([status, names]) => names.map((n) => [n, status as RenderStatusName])))

// An unknown status is read as "still running" so a poller keeps polling rather than
// declaring a result the upstream never gave.
function normalizeStatus (s: string): RenderStatusName {
  return STATUS_ALIASES[s.toLowerCase()] ?? 'processing'
}

function urlOf (v: unknown): string | undefined {
  return isObject(v) ? str(v.url) : undefined
}

function errorText (v: unknown): string | undefined {
  if (typeof v === 'string' && v !== '') return v
  if (isObject(v)) return str(v.message) ?? JSON.stringify(v)
  return undefined
}

function obj (v: unknown): Json {
  if (!isObject(v)) throw bad('data')
  return v
}

function need (v: unknown, field: string): string {
  if (typeof v === 'string' && v !== '') return v
  if (typeof v === 'number') return String(v)
  throw bad(field)
}

function bad (field: string): NemoError {
  return new NemoError('bad_response', { upstreamMessage: `missing or invalid '${field}'` })
}

function str (v: unknown): string | undefined {
  if (typeof v === 'string') return v
  if (typeof v === 'number') return String(v)
  return undefined
}

const MAX_INT32 = 2 ** 31 - 1

/** A non-negative safe integer, as a number or a digit string; else undefined. */
function count (v: unknown): number | undefined {
  const n = typeof v === 'string' && /^\d+$/.test(v.trim()) ? Number(v) : v
  return typeof n === 'number' && Number.isSafeInteger(n) && n >= 0 ? n : undefined
}

function percent (v: number | undefined): number | undefined {
  return v === undefined ? undefined : Math.min(100, Math.max(0, Math.floor(v)))
}

function num (v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return undefined
}
