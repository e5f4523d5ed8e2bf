// Webhook portal links: what a tenant's backend hands its own staff so they can see and steer
// the tenant's webhooks (and read its usage) in a browser, without the API key reaching it.
// A link's token is a JWT signed by the gateway's signing keys (signing-keys.ts) for the portal
// audience only, so it is never taken for a client token or the other way round, and a forged or
// expired one is refused without touching the database. It is single-purpose (webhooks:manage
// and usage:read, tenant-wide), and only its sha256 is stored, in a PortalSession row that
// revocation marks: every use checks the signature and then that row (cached briefly by the
// auth plugin, emptied on every instance by a revoke).
import { createHash, randomUUID } from 'node:crypto'
import { decodeJwt, errors as joseErrors } from 'jose'
import { gwError, isGatewayError } from '../../errors.ts'
import type { CacheSync, Db } from '../common/index.ts'
import type { Scope } from './scopes.ts'
import type { SigningKeys } from './signing-keys.ts'

const PORTAL_AUDIENCE = 'nemo-gateway/portal'
export const PORTAL_DEFAULT_TTL_S = 3600
export const PORTAL_MAX_TTL_S = 24 * 3600
/** All a portal link may do: the tenant's webhooks and reading its usage. */
export const PORTAL_SCOPES: readonly Scope[] = ['webhooks:manage', 'usage:read']

export interface OpenedPortal {
  id: string
  /** The link: the page with the token in its fragment */
  url: string
  token: string
  expiresAt: Date
}

/** What a verified portal token says. */
export interface PortalGrant {
  sessionId: string
  tenantId: string
  /** ms since the epoch */
  expiresAt: number
}

function invalid (why: string): never {
  throw gwError('GW_ERR_UNAUTHORIZED', `The portal link is not valid: ${why}; ask for a new link`, {
    headers: { 'www-authenticate': 'Bearer realm="nemo-gateway", error="invalid_token"' }
  })
}

function tokenHash (token: string): string {
  return createHash('sha256').update(token).digest('base64url')
}

/** A JWT made for the portal (its audience), before any signature check. */
export function isPortalToken (raw: string): boolean {
  try {
    const { aud } = decodeJwt(raw)
    return aud === PORTAL_AUDIENCE || (Array.isArray(aud) && aud.includes(PORTAL_AUDIENCE))
  } catch {
    return false
  }
}

export class PortalSessions {
  constructor (private readonly prisma: Db, private readonly keys: SigningKeys, private readonly caches: CacheSync, private readonly baseUrl: () => string) {}

  /** A new link's token for `tenantId`, opened by the API key `apiKeyId`. */
  async open (tenantId: string, apiKeyId: string | null, ttlSeconds = PORTAL_DEFAULT_TTL_S): Promise<OpenedPortal> {
    const id = randomUUID()
    const { token, expiresAt } = await this.keys.sign({ tid: tenantId, sid: id }, { audience: PORTAL_AUDIENCE, subject: tenantId, ttlSeconds: Math.min(ttlSeconds, PORTAL_MAX_TTL_S) })
    await this.prisma.portalSession.create({ data: { id, tenantId, tokenHash: tokenHash(token), apiKeyId, expiresAt } })
    return { id, url: `${this.baseUrl()}/portal#token=${token}`, token, expiresAt }
  }

  /** Ends a link at once (on every instance); another tenant's or an unknown id is 404. */
  async revoke (tenantId: string, id: string, now = new Date()): Promise<void> {
    const { count } = await this.prisma.portalSession.updateMany({ where: { id, tenantId }, data: { revokedAt: now } })
    if (count === 0) throw gwError('GW_ERR_NOT_FOUND', `Portal session ${id} not found`)
    this.caches.changed({ kind: 'portal-sessions' })
  }

  /** The grant of a live link's token; 401 for a forged, expired, revoked or unknown one. */
  async verify (raw: string, now = Date.now()): Promise<PortalGrant> {
    let tid: string
    let sid: string
    let exp: number
    try {
      const payload = await this.keys.verify(raw, PORTAL_AUDIENCE)
      tid = String(payload.tid)
      sid = String(payload.sid)
      exp = Number(payload.exp) * 1000
    } catch (err) {
      if (isGatewayError(err)) throw err
      if (err instanceof joseErrors.JWTExpired) invalid('it has expired')
      if (err instanceof joseErrors.JOSEError) invalid(err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'the signature does not match' : err.message)
      throw err
    }
    const row = await this.prisma.portalSession.findUnique({ where: { tokenHash: tokenHash(raw) }, select: { id: true, tenantId: true, expiresAt: true, revokedAt: true } })
    if (row === null || row.id !== sid || row.tenantId !== tid) invalid('it is unknown')
    if (row.revokedAt !== null) invalid('it was revoked')
    const expiresAt = Math.min(exp, row.expiresAt.getTime())
    if (expiresAt <= now) invalid('it has expired')
    return { sessionId: row.id, tenantId: row.tenantId, expiresAt }
  }
}
