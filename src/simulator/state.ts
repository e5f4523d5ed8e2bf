// Everything the simulated upstream remembers. One instance per app; POST /__sim/reset replaces
// its contents. Kept free of HTTP so the rules (mint limits, token validity, credit freezing) read
// in one place.
import { Prng } from './prng.ts'
import { emptyDraft, type Draft } from './draft.ts'
import type { Mp4Shape } from './mp4.ts'

export interface SimUser {
  userId: string
  anonymous: boolean
  available: number
  frozen: number
}

export interface SimToken {
  token: string
  userId: string
  expiresAt: number
  revoked: boolean
}

interface MintRecord { at: number, clientId: string, ip: string, token: string }

interface SessionState {
  video_infos: Array<Record<string, unknown>>
  draft: Draft
  canvas_config: { width: number, height: number, aspect_ratio: string }
  video_analyses: Record<string, unknown>
  generated_media: Array<Record<string, unknown>>
}

export interface SimSession {
  sessionId: string
  taskId: string
  taskName: string
  userId: string
  language: string | null
  /** Bumped on every change, surfaced as ADK stateDelta so a client can see something moved. */
  version: number
  state: SessionState
}

export interface RenderJob {
  id: string
  userId: string
  sessionId: string | null
  createdAt: number
  durationMs: number
  /** ms after createdAt at which the render fails, or null when it will succeed. */
  failAfterMs: number | null
  failReason: string
  cancelledAt: number | null
  /** The MP4 it produces: the draft's picture size and duration. */
  output: Mp4Shape
}

export interface UploadRecord { filename: string, size: number, sha256: string, session_id: string }

export type AuthResult =
  | { ok: true, user: SimUser, token: SimToken }
  | { ok: false, message: string }

export type MintResult =
  | { ok: true, token: SimToken, user: SimUser }
  | { ok: false, retryAfterSec: number, reason: 'client' | 'ip' }

export interface MintLimits { perClient: number, perIp: number, windowMs: number, ttlMs: number, credits: number }

export const REGISTERED_CREDITS = 10000

export class SimState {
  rng: Prng
  readonly users = new Map<string, SimUser>()
  readonly tokens = new Map<string, SimToken>()
  readonly sessions = new Map<string, SimSession>()
  readonly renders = new Map<string, RenderJob>()
  readonly uploads: UploadRecord[] = []
  private mints: MintRecord[] = []

  constructor (seed: number) {
    this.rng = new Prng(seed)
  }

  private newToken (userId: string, ttlMs: number, now: number): SimToken {
    const token: SimToken = { token: 'nmv_usr_' + this.rng.base64url(40), userId, expiresAt: now + ttlMs, revoked: false }
    this.tokens.set(token.token, token)
    return token
  }

  private newUser (userId: string, anonymous: boolean, credits: number): SimUser {
    const user: SimUser = { userId, anonymous, available: credits, frozen: 0 }
    this.users.set(userId, user)
    return user
  }

  /**
   * Contract §3.1: one token per client and ten per IP in a sliding window. A client whose token
   * has expired may mint again (the skill re-mints with the same X-Client-Id on expiry); mints
   * still count against the IP budget.
   */
  mintAnonymous (clientId: string, ip: string, limits: MintLimits, now = Date.now()): MintResult {
    this.mints = this.mints.filter((m) => now - m.at < limits.windowMs)
    const blockingClient = this.mints.filter((m) => m.clientId === clientId && !this.isExpired(m.token, now))
    if (blockingClient.length >= limits.perClient) {
      return { ok: false, reason: 'client', retryAfterSec: this.retryAfter(blockingClient, limits, now, true) }
    }
    const fromIp = this.mints.filter((m) => m.ip === ip)
    if (fromIp.length >= limits.perIp) {
      return { ok: false, reason: 'ip', retryAfterSec: this.retryAfter(fromIp, limits, now, false) }
    }
    const user = this.newUser('anon_' + this.rng.hex(16), true, limits.credits)
    const token = this.newToken(user.userId, limits.ttlMs, now)
    this.mints.push({ at: now, clientId, ip, token: token.token })
    return { ok: true, token, user }
  }

  private retryAfter (records: MintRecord[], limits: MintLimits, now: number, expiryFrees: boolean): number {
    const oldest = records[0]
    if (oldest === undefined) return 1
    let freeAt = oldest.at + limits.windowMs
    const expiresAt = this.tokens.get(oldest.token)?.expiresAt
    if (expiryFrees && expiresAt !== undefined) freeAt = Math.min(freeAt, expiresAt)
    return Math.max(1, Math.ceil((freeAt - now) / 1000))
  }

  private isExpired (token: string, now: number): boolean {
    const t = this.tokens.get(token)
    return t === undefined || t.expiresAt <= now
  }

  /** The development token (option devToken): a fixed value that never expires. */
  addDevToken (value: string): void {
    if (this.tokens.has(value)) return
    const user = this.newUser('user_dev', false, REGISTERED_CREDITS)
    this.tokens.set(value, { token: value, userId: user.userId, expiresAt: Number.MAX_SAFE_INTEGER, revoked: false })
  }

  /** A registered-style token for tests (POST /__sim/tokens). */
  createRegistered (credits: number, ttlMs: number, now = Date.now()): { token: SimToken, user: SimUser } {
    const user = this.newUser('user_' + this.rng.hex(16), false, credits)
    return { token: this.newToken(user.userId, ttlMs, now), user }
  }

  /** Messages are the substrings NemoVideo's own client matches (contract §2.2). */
  authenticate (authorization: string | undefined, now = Date.now()): AuthResult {
    const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization ?? '')
    if (match === null) return { ok: false, message: 'missing authentication token' }
    const token = this.tokens.get(match[1] as string)
    if (token === undefined) return { ok: false, message: 'invalid token' }
    if (token.revoked) return { ok: false, message: 'token has been revoked' }
    if (token.expiresAt <= now) return { ok: false, message: 'token has expired' }
    const user = this.users.get(token.userId)
    if (user === undefined) return { ok: false, message: 'token not found' }
    return { ok: true, user, token }
  }

  createSession (user: SimUser, taskName: string, language: string | null): SimSession {
    const session: SimSession = {
      sessionId: this.rng.snowflake(),
      taskId: 'task_' + this.rng.hex(16),
      taskName,
      userId: user.userId,
      language,
      version: 0,
      state: {
        video_infos: [],
        draft: emptyDraft(taskName),
        canvas_config: { width: 1920, height: 1080, aspect_ratio: '16:9' },
        video_analyses: {},
        generated_media: []
      }
    }
    this.sessions.set(session.sessionId, session)
    return session
  }

  /** Sessions belong to the user that created them; anyone else gets "not found". */
  sessionOf (user: SimUser, sessionId: string): SimSession | undefined {
    const session = this.sessions.get(sessionId)
    return session !== undefined && session.userId === user.userId ? session : undefined
  }

  freeze (user: SimUser, amount: number): boolean {
    if (user.available < amount) return false
    user.available -= amount
    user.frozen += amount
    return true
  }

  /** Frozen credits are either spent (the work happened) or released (it did not). */
  spend (user: SimUser, amount: number): void {
    user.frozen = Math.max(0, user.frozen - amount)
  }

  release (user: SimUser, amount: number): void {
    const back = Math.min(amount, user.frozen)
    user.frozen -= back
    user.available += back
  }
}

export function balanceOf (user: SimUser): { available: number, frozen: number, total: number } {
  return { available: user.available, frozen: user.frozen, total: user.available + user.frozen }
}
