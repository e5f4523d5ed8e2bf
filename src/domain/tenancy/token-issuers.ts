// A tenant's own identity provider (Hasura's JWT mode): tokens it signs for the registered
// audience are accepted as client tokens, the user named by one claim, the scopes by another.
// Its JWKS is fetched through the webhook egress guard (a tenant must not make the gateway
// reach its own network), kept as long as its Cache-Control allows, and fetched again for a
// kid it does not hold, at most once a minute per URL.
import { createLocalJWKSet, jwtVerify, type JWK, type JWTPayload, type JWTHeaderParameters } from 'jose'
import { gwError } from '../../errors.ts'
import type { Db } from '../common/index.ts'
import { TtlCache } from '../common/index.ts'
import { guardedGet, type EgressGuard } from '../webhooks/index.ts'
import { foreignScopes, type Scope } from './scopes.ts'
import { isValidExternalUserId } from './users.ts'

/** The least time between two fetches of one JWKS. */
const JWKS_REFETCH_MS = 60_000
const JWKS_DEFAULT_MAX_AGE_MS = 10 * 60_000
const JWKS_MAX_AGE_MS = 24 * 3600_000
const JWKS_MAX_BYTES = 256 * 1024
const JWKS_TIMEOUT_MS = 5000
const ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA']

export interface TokenIssuerView {
  id: string
  tenantId: string
  issuer: string
  jwksUrl: string
  audience: string
  userClaim: string
  scopeClaim: string | null
  createdAt: Date
}

export interface TokenIssuerInput {
  issuer: string
  jwksUrl: string
  audience: string
  userClaim?: string
  scopeClaim?: string | null
}

export interface ForeignGrant {
  tenantId: string
  externalUserId: string
  scopes: Scope[]
  payload: JWTPayload
}

interface KeySet {
  keys: JWK[]
  verifier: ReturnType<typeof createLocalJWKSet>
  freshUntil: number
  fetchedAt: number
}

function view (row: TokenIssuerView): TokenIssuerView {
  const { id, tenantId, issuer, jwksUrl, audience, userClaim, scopeClaim, createdAt } = row
  return { id, tenantId, issuer, jwksUrl, audience, userClaim, scopeClaim, createdAt }
}

function maxAgeMs (cacheControl: string | undefined): number {
  if (cacheControl === undefined) return JWKS_DEFAULT_MAX_AGE_MS
  if (/\b(no-store|no-cache)\b/i.test(cacheControl)) return 0
  const m = /\bmax-age=(\d+)/i.exec(cacheControl)
  return m ? Math.min(Number(m[1]) * 1000, JWKS_MAX_AGE_MS) : JWKS_DEFAULT_MAX_AGE_MS
}

export class TokenIssuers {
  private readonly rows = new TtlCache<TokenIssuerView | null>(30_000, 10_000)
  private readonly keySets = new Map<string, KeySet>()
  private readonly fetching = new Map<string, Promise<KeySet | undefined>>()

  constructor (private readonly prisma: Db, private readonly guard: EgressGuard) {}

  async create (tenantId: string, input: TokenIssuerInput): Promise<TokenIssuerView> {
    let url: URL
    try {
      url = new URL(input.jwksUrl)
    } catch {
      throw gwError('GW_ERR_VALIDATION', 'jwksUrl must be an absolute http(s) URL')
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw gwError('GW_ERR_VALIDATION', 'jwksUrl must be an http(s) URL')
    const tenant = await this.prisma.tenant.findUnique({ where: { id: tenantId }, select: { id: true } })
    if (!tenant) throw gwError('GW_ERR_NOT_FOUND', `Tenant ${tenantId} not found`)
    const taken = await this.prisma.tokenIssuer.findUnique({ where: { issuer_audience: { issuer: input.issuer, audience: input.audience } } })
    if (taken) throw gwError('GW_ERR_CONFLICT', 'This issuer and audience are registered already')
    const row = await this.prisma.tokenIssuer.create({
      data: { tenantId, issuer: input.issuer, jwksUrl: url.toString(), audience: input.audience, userClaim: input.userClaim ?? 'sub', scopeClaim: input.scopeClaim ?? null }
    })
    this.rows.clear()
    return view(row)
  }

  async list (tenantId: string): Promise<TokenIssuerView[]> {
    return (await this.prisma.tokenIssuer.findMany({ where: { tenantId }, orderBy: { createdAt: 'asc' } })).map(view)
  }

  async remove (tenantId: string, id: string): Promise<void> {
    const { count } = await this.prisma.tokenIssuer.deleteMany({ where: { id, tenantId } })
    if (count === 0) throw gwError('GW_ERR_NOT_FOUND', `Token issuer ${id} not found`)
    this.rows.clear()
  }

  /** Drops cached issuer rows (a change on another instance). */
  forget (): void {
    this.rows.clear()
  }

  /**
   * The grant of a token from a registered issuer; null when no tenant registered its issuer
   * and audience. A bad signature, a wrong claim or an unreachable JWKS throw.
   */
  async verify (token: string, iss: string, audiences: string[]): Promise<ForeignGrant | null> {
    let row: TokenIssuerView | null = null
    for (const audience of audiences) {
      row = await this.rows.load(`${iss}\0${audience}`, async () => await this.prisma.tokenIssuer.findUnique({ where: { issuer_audience: { issuer: iss, audience } } }))
      if (row !== null) break
    }
    if (row === null) return null
    const issuer = row
    const { payload } = await jwtVerify(token, async (header: JWTHeaderParameters) => await this.keyFor(issuer.jwksUrl, header), {
      issuer: issuer.issuer, audience: issuer.audience, algorithms: ALGORITHMS, requiredClaims: ['exp']
    })
    const user = payload[issuer.userClaim]
    if (typeof user !== 'string' || !isValidExternalUserId(user)) {
      throw gwError('GW_ERR_UNAUTHORIZED', `The token's "${issuer.userClaim}" claim is not a user id (1-128 of A-Za-z0-9._:@-)`)
    }
    const scopes = foreignScopes(issuer.scopeClaim === null ? undefined : payload[issuer.scopeClaim])
    return { tenantId: issuer.tenantId, externalUserId: user, scopes, payload }
  }

  private async keyFor (jwksUrl: string, header: JWTHeaderParameters): Promise<CryptoKey> {
    let set = this.keySets.get(jwksUrl)
    const known = set !== undefined && (header.kid === undefined || set.keys.some(k => k.kid === header.kid))
    if (set === undefined || !known || set.freshUntil <= Date.now()) set = (await this.refresh(jwksUrl)) ?? set
    if (set === undefined) throw gwError('GW_ERR_UNAUTHORIZED', 'The issuer\'s keys could not be fetched')
    return await set.verifier(header, { payload: '', signature: '' } as never) as CryptoKey
  }

  /** A fresh copy of the JWKS, unless one was fetched less than a minute ago (then the one held). */
  private async refresh (jwksUrl: string): Promise<KeySet | undefined> {
    const held = this.keySets.get(jwksUrl)
    if (held !== undefined && Date.now() - held.fetchedAt < JWKS_REFETCH_MS) return held
    const inFlight = this.fetching.get(jwksUrl)
    if (inFlight !== undefined) return await inFlight
    const work = this.fetch(jwksUrl).finally(() => this.fetching.delete(jwksUrl))
    this.fetching.set(jwksUrl, work)
    return await work
  }

  private async fetch (jwksUrl: string): Promise<KeySet | undefined> {
    const held = this.keySets.get(jwksUrl)
    try {
      const res = await guardedGet(new URL(jwksUrl), this.guard, { timeoutMs: JWKS_TIMEOUT_MS, maxBytes: JWKS_MAX_BYTES })
      if (res.status !== 200) throw new Error(`the JWKS answered ${res.status}`)
      const keys = (JSON.parse(res.body) as { keys?: unknown }).keys
      if (!Array.isArray(keys)) throw new Error('the JWKS has no "keys" array')
      const now = Date.now()
      const set: KeySet = { keys: keys as JWK[], verifier: createLocalJWKSet({ keys: keys as JWK[] }), freshUntil: now + maxAgeMs(res.cacheControl), fetchedAt: now }
      this.keySets.set(jwksUrl, set)
      return set
    } catch (err) {
      // a failed fetch counts as one too: an unreachable JWKS is not hammered
      if (held !== undefined) held.fetchedAt = Date.now()
      else this.keySets.set(jwksUrl, { keys: [], verifier: createLocalJWKSet({ keys: [] }), freshUntil: 0, fetchedAt: Date.now() })
      throw gwError('GW_ERR_UNAUTHORIZED', `The issuer's keys could not be fetched: ${(err as Error).message}`)
    }
  }
}
