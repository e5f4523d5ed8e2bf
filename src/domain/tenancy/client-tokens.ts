// Client tokens: what a tenant's backend hands its web or mobile app instead of the API key.
// A JWT signed by the gateway (signing-keys.ts) for one tenant's one user, with scopes and
// optionally some sessions, living 15 minutes unless asked otherwise (24 h at most). The holder
// cannot choose the user. A tenant's own identity provider's tokens (token-issuers.ts) are
// accepted the same way. Revoking a user ends every token issued to them before that instant.
import { decodeJwt, errors as joseErrors } from 'jose'
import { gwError, isGatewayError } from '../../errors.ts'
import type { Db } from '../common/index.ts'
import { clientTokenScopes, type Grant, type Scope } from './scopes.ts'
import { GATEWAY_ISSUER, type SigningKeys } from './signing-keys.ts'
import type { TokenIssuers } from './token-issuers.ts'

const CLIENT_TOKEN_AUDIENCE = 'nemo-gateway/client'
export const CLIENT_TOKEN_DEFAULT_TTL_S = 15 * 60
export const CLIENT_TOKEN_MAX_TTL_S = 24 * 3600
export const CLIENT_TOKEN_MAX_SESSIONS = 50

export interface MintInput {
  scopes?: string[]
  sessionIds?: string[]
  ttlSeconds?: number
}

export interface MintedToken {
  token: string
  expiresAt: Date
  scopes: Scope[]
  sessionIds?: string[]
}

/** What a verified client token says. */
export interface ClientGrant {
  tenantId: string
  externalUserId: string
  scopes: Scope[]
  sessionIds?: string[]
  /** ms since the epoch: when it was issued (revocation compares it) and when it ends */
  issuedAt: number
  expiresAt: number
  /** `gateway` or the id of the tenant's registered issuer */
  issuer: string
}

/** Looks like a JWT: three base64url parts (an API key is `ngw_...`). */
export function looksLikeJwt (raw: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/.test(raw)
}

function invalid (why: string): never {
  throw gwError('GW_ERR_UNAUTHORIZED', `The client token is not valid: ${why}`, {
    headers: { 'www-authenticate': 'Bearer realm="nemo-gateway", error="invalid_token"' }
  })
}

export class ClientTokens {
  constructor (private readonly prisma: Db, private readonly keys: SigningKeys, private readonly issuers: TokenIssuers) {}

  /** A token for `externalUserId` of `tenantId`, minted by a credential holding `minter`. */
  async mint (tenantId: string, userId: string, externalUserId: string, minter: Grant, input: MintInput): Promise<MintedToken> {
    const scopes = clientTokenScopes(input.scopes, minter)
    const ttl = input.ttlSeconds ?? CLIENT_TOKEN_DEFAULT_TTL_S
    let sessionIds: string[] | undefined
    if (input.sessionIds !== undefined) {
      sessionIds = [...new Set(input.sessionIds)]
      // the user's own sessions only: another's is as unknown as one that does not exist
      const owned = await this.prisma.session.count({ where: { id: { in: sessionIds }, tenantId, userId } })
      if (owned !== sessionIds.length) throw gwError('GW_ERR_NOT_FOUND', 'A session in sessionIds was not found for this user')
    }
    const claims = { tid: tenantId, scope: scopes.join(' '), ...(sessionIds === undefined ? {} : { sids: sessionIds }) }
    const { token, expiresAt } = await this.keys.sign(claims, { audience: CLIENT_TOKEN_AUDIENCE, subject: externalUserId, ttlSeconds: ttl })
    return { token, expiresAt, scopes, ...(sessionIds === undefined ? {} : { sessionIds }) }
  }

  /** The grant of a valid token; 401 for anything else (forged, expired, `alg: none`, unknown issuer). */
  async verify (raw: string): Promise<ClientGrant> {
    let iss: unknown
    let aud: unknown
    try {
      ({ iss, aud } = decodeJwt(raw))
    } catch {
      invalid('it is not a JWT')
    }
    try {
      if (iss === GATEWAY_ISSUER) {
        const payload = await this.keys.verify(raw, CLIENT_TOKEN_AUDIENCE)
        const sids = payload.sids
        return {
          tenantId: String(payload.tid),
          externalUserId: String(payload.sub),
          scopes: String(payload.scope ?? '').split(' ').filter(s => s !== '') as Scope[],
          ...(Array.isArray(sids) ? { sessionIds: sids.map(String) } : {}),
          issuedAt: Math.round(Number(payload.iat) * 1000),
          expiresAt: Number(payload.exp) * 1000,
          issuer: 'gateway'
        }
      }
      const audiences = typeof aud === 'string' ? [aud] : Array.isArray(aud) ? aud.filter((a): a is string => typeof a === 'string') : []
      if (typeof iss !== 'string' || audiences.length === 0) invalid('it names no issuer and audience the gateway knows')
      const grant = await this.issuers.verify(raw, iss, audiences)
      if (grant === null) invalid('no tenant registered its issuer and audience')
      const iat = typeof grant.payload.iat === 'number' ? grant.payload.iat * 1000 : 0
      return { tenantId: grant.tenantId, externalUserId: grant.externalUserId, scopes: grant.scopes, issuedAt: iat, expiresAt: Number(grant.payload.exp) * 1000, issuer: iss }
    } catch (err) {
      if (isGatewayError(err)) throw err
      if (err instanceof joseErrors.JWTExpired) invalid('it has expired')
      if (err instanceof joseErrors.JOSEError) invalid(err.code === 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' ? 'the signature does not match' : err.message)
      throw err
    }
  }

  /** Ends every client token of the user issued until now; answers the instant. */
  async revokeUser (tenantId: string, userId: string, now = new Date()): Promise<Date> {
    await this.prisma.user.update({ where: { id: userId, tenantId }, data: { tokensRevokedAt: now } })
    return now
  }

  /** When the user's tokens were last revoked (ms), or 0. */
  async revokedAt (tenantId: string, externalUserId: string): Promise<number> {
    const row = await this.prisma.user.findUnique({ where: { tenantId_externalId: { tenantId, externalId: externalUserId } }, select: { tokensRevokedAt: true } })
    return row?.tokensRevokedAt?.getTime() ?? 0
  }
}
