// Who is calling. Tenants: `Authorization: Bearer ngw_<keyId>_<secret>` plus `X-User-Id`
// (the tenant's own user id; the user is created on first sight), or `Authorization: Bearer
// <client token>` alone (a JWT naming the tenant and the user; domain/tenancy/client-tokens.ts).
// An SSE stream (GET with Accept: text/event-stream) also takes a client token as
// `?access_token=`, for EventSource, which cannot send headers; options.ts takes it out of
// the URL before anything logs or traces it. Operators: the admin token.
// Verified keys and tokens, known users and users' token revocations are cached for
// AUTH_CACHE_TTL_MS so the hot path does not touch the database; a revoked key or user
// therefore stops working within that many ms. What each route may do is checked against the
// credential's scopes in one place: `checkScope` (REST: the route's `config.scope`; GraphQL
// asks the same rule for each field, src/graphql/scopes.ts).
// A webhook portal link's token (a JWT for the portal audience, domain/tenancy/portal-sessions.ts)
// acts tenant-wide with the portal's scopes only, on /v1 routes; its verdict is cached the same
// way and dropped on every instance when a link is revoked.
// Every failed authentication goes through the auth-throttle plugin (429 past a per-address limit).
// A route may name its admission (`config.admit`, chat turns): it is decided between verifying
// the credential and looking up the end user, so a refused request costs no database read.
import { createHash, hash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyContextConfig, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { gwError, isGatewayError, type GatewayError } from '../errors.ts'
import type { ClientGrant, Scope, VerifiedKey } from '../domain/tenancy/index.ts'
import { grantOf, grants, isPortalToken, isValidExternalUserId, looksLikeJwt, PORTAL_SCOPES, requireScope, type PortalGrant } from '../domain/tenancy/index.ts'
import { TtlCache } from '../domain/common/index.ts'
import type { RequestActor } from '../domain/common/index.ts'
import { accessTokenOf } from '../http/access-token.ts'

declare module 'fastify' {
  interface FastifyRequest {
    actor: RequestActor
  }
  interface FastifyContextConfig {
    /** A route on the tenant's own resources: the end user (X-User-Id) is not needed. */
    tenantOnly?: boolean
    /** The scope a credential needs for this route (every /v1 route names one). */
    scope?: Scope
    /** A route that answers for one end user when X-User-Id is sent, else for the whole tenant. */
    userOptional?: boolean
    /** Only an API key may call it (opening a portal link): a portal link cannot open another. */
    apiKeyOnly?: boolean
    /**
     * The route's admission (chat turns: routes/v1/turns), asked as soon as the caller's
     * credential is verified and holds the route's scope, before its end user is looked up (a
     * database read when not cached): a refusal is the answer, sent at once for next to nothing.
     */
    admit?: (tenantId: string) => GatewayError | null
  }
  interface FastifyInstance {
    /** The onRequest hook of /v1 (with the reply: a route's `admit` refusal is sent from it). */
    authenticateTenant: (request: FastifyRequest, reply?: FastifyReply) => Promise<unknown>
    authenticateAdmin: (request: FastifyRequest) => Promise<void>
    /** Resolves an API key + user id to an actor (also used by GraphQL connection_init from `address`). */
    resolveActor: (authorization: string | undefined, userId: string | undefined, address: string) => Promise<RequestActor>
    /** Drops cached key verdicts, on every instance (after a revoke/rotate). */
    forgetKeys: () => void
    /** 403 unless the request's credential holds the route's scope. */
    checkScope: (request: FastifyRequest) => Promise<void>
  }
}

const TOUCH_EVERY_MS = 60_000
const MAX_CACHE = 50_000

function bearer (header: string | undefined): string | null {
  if (!header) return null
  const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header)
  return m ? m[1]! : null
}

function digest (s: string): Buffer {
  return createHash('sha256').update(s).digest()
}

interface CachedGrant {
  grant: ClientGrant
  scopes: ReadonlySet<string>
}

/** A verified credential: its tenant and scopes now, its end user (looked up) when asked. */
interface Caller {
  tenantId: string
  scopes: RequestActor['scopes']
  /** The caller before its end user is looked up (userId ''): what a refusal's answer knows of it (CORS). */
  withoutUser: RequestActor
  actor: () => Promise<RequestActor>
}

/** The route's refusal of this caller, if any: none unless it holds the route's scope (else checkScope's 403 answers). */
function admission (config: FastifyContextConfig, caller: Caller): GatewayError | null {
  if (config.admit === undefined || (config.scope !== undefined && !grants(caller.scopes, config.scope))) return null
  return config.admit(caller.tenantId)
}

async function auth (fastify: FastifyInstance): Promise<void> {
  const { apiKeys, users, clientTokens, portalSessions } = fastify.domain
  const ttl = fastify.config.AUTH_CACHE_TTL_MS
  const keyCache = new TtlCache<VerifiedKey | null>(ttl, MAX_CACHE)
  const keyScopes = new WeakMap<VerifiedKey, RequestActor['scopes']>()
  const tokenCache = new TtlCache<CachedGrant>(ttl, MAX_CACHE)
  const revocations = new TtlCache<number>(ttl, MAX_CACHE)
  const touched = new Map<string, number>()
  const portalCache = new TtlCache<PortalGrant>(ttl, MAX_CACHE)
  const portalScopes: ReadonlySet<string> = new Set(PORTAL_SCOPES)

  const invalidToken = (detail: string): GatewayError => gwError('GW_ERR_UNAUTHORIZED', detail, {
    headers: { 'www-authenticate': 'Bearer realm="nemo-gateway", error="invalid_token"' }
  })

  const portalElsewhere = (): GatewayError => gwError('GW_ERR_FORBIDDEN', 'A portal link\'s token works on the /v1 webhook and usage routes only')

  /** A client token's caller: its tenant, and its own user, never one the holder names. */
  async function identifyClient (raw: string, userId: string | undefined, address: string): Promise<Caller> {
    const cacheKey = hash('sha256', raw, 'base64')
    let cached = tokenCache.get(cacheKey)
    if (cached === undefined) {
      try {
        const grant = await clientTokens.verify(raw)
        cached = { grant, scopes: new Set(grant.scopes) }
      } catch (err) {
        if (isGatewayError(err, 'GW_ERR_UNAUTHORIZED')) throw await fastify.authFailure(address, err)
        throw err
      }
      tokenCache.set(cacheKey, cached)
    }
    const { grant } = cached
    if (grant.expiresAt <= Date.now()) {
      tokenCache.delete(cacheKey)
      throw await fastify.authFailure(address, invalidToken('The client token has expired; ask your backend for a new one'))
    }
    const userKey = `${grant.tenantId}\0${grant.externalUserId}`
    const revokedAt = await revocations.load(userKey, async () => await clientTokens.revokedAt(grant.tenantId, grant.externalUserId))
    if (grant.issuedAt <= revokedAt) throw await fastify.authFailure(address, invalidToken('The client token was revoked'))
    if (userId !== undefined && userId !== '' && userId !== grant.externalUserId) {
      throw gwError('GW_ERR_FORBIDDEN', 'A client token acts for its own user: send no X-User-Id with it')
    }
    const scopes = cached.scopes
    const actor = async (): Promise<RequestActor> => {
      const user = await users.ensure(grant.tenantId, grant.externalUserId)
      return {
        tenantId: grant.tenantId,
        userId: user.id,
        apiKeyId: `client:${user.id}`,
        keyId: 'client-token',
        externalUserId: grant.externalUserId,
        scopes,
        via: 'client-token',
        ...(grant.sessionIds === undefined ? {} : { sessionIds: grant.sessionIds })
      }
    }
    const withoutUser: RequestActor = { tenantId: grant.tenantId, userId: '', apiKeyId: 'client-token', keyId: 'client-token', externalUserId: grant.externalUserId, scopes, via: 'client-token' }
    return { tenantId: grant.tenantId, scopes, withoutUser, actor }
  }

  /** The tenant-wide actor of a portal link: the portal's scopes, no end user. */
  async function resolvePortal (raw: string, address: string): Promise<RequestActor> {
    const cacheKey = hash('sha256', raw, 'base64')
    let grant = portalCache.get(cacheKey)
    if (grant === undefined) {
      try {
        grant = await portalSessions.verify(raw)
      } catch (err) {
        if (isGatewayError(err, 'GW_ERR_UNAUTHORIZED')) throw await fastify.authFailure(address, err)
        throw err
      }
      portalCache.set(cacheKey, grant)
    }
    if (grant.expiresAt <= Date.now()) {
      portalCache.delete(cacheKey)
      throw await fastify.authFailure(address, invalidToken('The portal link has expired; ask for a new link'))
    }
    return { tenantId: grant.tenantId, userId: '', apiKeyId: `portal:${grant.sessionId}`, keyId: 'portal', externalUserId: '', scopes: portalScopes, via: 'portal' }
  }

  function scopesOf (key: VerifiedKey): RequestActor['scopes'] {
    let scopes = keyScopes.get(key)
    if (scopes === undefined) {
      scopes = grantOf(key.scopes)
      keyScopes.set(key, scopes)
    }
    return scopes
  }

  async function verify (raw: string): Promise<VerifiedKey | null> {
    // the cache holds digests, never a key itself (one-shot hash: the hot path's cheapest)
    const cacheKey = hash('sha256', raw, 'base64')
    const key = await keyCache.load(cacheKey, async () => await apiKeys.verify(raw))
    if (key !== null && key.expiresAt !== null && key.expiresAt.getTime() <= Date.now()) {
      keyCache.delete(cacheKey)
      return null
    }
    return key
  }

  async function resolveKey (authorization: string | undefined, address: string): Promise<VerifiedKey> {
    const raw = bearer(authorization)
    if (!raw) {
      throw await fastify.authFailure(address, gwError('GW_ERR_UNAUTHORIZED', 'Send your API key as "Authorization: Bearer ngw_..."', {
        headers: { 'www-authenticate': 'Bearer realm="nemo-gateway"' }
      }))
    }
    const key = await verify(raw)
    if (!key) {
      throw await fastify.authFailure(address, gwError('GW_ERR_UNAUTHORIZED', 'The API key is not valid, or it was revoked or has expired', {
        headers: { 'www-authenticate': 'Bearer realm="nemo-gateway", error="invalid_token"' }
      }))
    }
    touch(key)
    return key
  }

  function touch (key: VerifiedKey): void {
    const last = touched.get(key.apiKeyId) ?? 0
    if (Date.now() - last > TOUCH_EVERY_MS) {
      touched.set(key.apiKeyId, Date.now())
      apiKeys.touch(key.apiKeyId).catch((err: unknown) => fastify.log.debug({ err }, 'could not record key use'))
    }
  }

  /** Who calls for one end user (an API key and X-User-Id, or a client token); the user is looked up by `actor()`. */
  async function identify (authorization: string | undefined, userId: string | undefined, address: string): Promise<Caller> {
    const raw = bearer(authorization)
    if (raw !== null && looksLikeJwt(raw)) {
      if (isPortalToken(raw)) throw portalElsewhere()
      return await identifyClient(raw, userId, address)
    }
    const key = await resolveKey(authorization, address)
    if (userId === undefined || userId === '') {
      throw gwError('GW_ERR_VALIDATION', 'Send the end user\'s id in the X-User-Id header', {
        extensions: { errors: [{ in: 'headers', path: '/x-user-id', message: 'is required' }] }
      })
    }
    if (!isValidExternalUserId(userId)) {
      throw gwError('GW_ERR_VALIDATION', 'X-User-Id must be 1-128 characters of A-Z a-z 0-9 . _ : @ -', {
        extensions: { errors: [{ in: 'headers', path: '/x-user-id', message: 'must match ^[A-Za-z0-9._:@-]{1,128}$' }] }
      })
    }
    const scopes = scopesOf(key)
    const actor = async (): Promise<RequestActor> => {
      // known users come from Users' own cache (created on first sight)
      const internalUserId = (await users.ensure(key.tenantId, userId)).id
      return { tenantId: key.tenantId, userId: internalUserId, apiKeyId: key.apiKeyId, keyId: key.keyId, externalUserId: userId, scopes, via: 'api-key' }
    }
    const withoutUser: RequestActor = { tenantId: key.tenantId, userId: '', apiKeyId: key.apiKeyId, keyId: key.keyId, externalUserId: userId, scopes, via: 'api-key' }
    return { tenantId: key.tenantId, scopes, withoutUser, actor }
  }

  async function resolveActor (authorization: string | undefined, userId: string | undefined, address: string): Promise<RequestActor> {
    return await (await identify(authorization, userId, address)).actor()
  }

  fastify.decorateRequest('actor', null as unknown as RequestActor)
  fastify.decorate('resolveActor', resolveActor)
  // a revoke or rotate through any instance empties every instance's verdicts (src/domain/cache-sync.ts)
  fastify.domain.caches.onChange((change) => {
    if (change.kind === 'keys') keyCache.clear()
    if (change.kind === 'client-tokens') revocations.delete(`${change.tenantId}\0${change.externalId}`)
    if (change.kind === 'issuers') tokenCache.clear()
    if (change.kind === 'portal-sessions') portalCache.clear()
  })
  fastify.decorate('forgetKeys', () => { fastify.domain.caches.changed({ kind: 'keys' }) })

  fastify.decorate('authenticateTenant', async (request: FastifyRequest, reply?: FastifyReply) => {
    let authorization = request.headers.authorization
    const accessToken = accessTokenOf(request.raw)
    if (accessToken !== undefined && authorization === undefined) {
      // EventSource cannot send headers: a client token in the query, on event streams only
      if (!looksLikeJwt(accessToken)) throw await fastify.authFailure(request.ip, invalidToken('access_token takes a client token, never an API key'))
      if (request.method !== 'GET' || !(request.headers.accept ?? '').includes('text/event-stream')) {
        throw gwError('GW_ERR_BAD_REQUEST', 'access_token is accepted on event streams only (GET with Accept: text/event-stream); send "Authorization: Bearer <client token>" elsewhere')
      }
      authorization = `Bearer ${accessToken}`
    }
    const raw = bearer(authorization)
    const config = request.routeOptions.config
    if (raw !== null && accessToken === undefined && looksLikeJwt(raw) && isPortalToken(raw)) {
      // /v1 routes only, each held to its scope (GraphQL has no tenant-wide viewer to give it)
      if (config.scope === undefined) throw portalElsewhere()
      // X-User-Id, if sent, is ignored: a portal link is the tenant's, never one user's
      request.actor = await resolvePortal(raw, request.ip)
      return
    }
    const tenantWide = config.tenantOnly === true || (config.userOptional === true && (request.headers['x-user-id'] ?? '') === '')
    if (tenantWide && (raw === null || !looksLikeJwt(raw))) {
      // a tenant resource (webhook endpoints): X-User-Id is accepted and ignored; a route that
      // answers for one user or the whole tenant (usage) without X-User-Id: the whole tenant.
      // A tenant-wide actor has no user (userId ''); a client token is always its own user's.
      const key = await resolveKey(authorization, request.ip)
      request.actor = { tenantId: key.tenantId, userId: '', apiKeyId: key.apiKeyId, keyId: key.keyId, externalUserId: '', scopes: scopesOf(key), via: 'api-key' }
      return
    }
    const userId = request.headers['x-user-id']
    const caller = await identify(authorization, Array.isArray(userId) ? userId[0] : userId, request.ip)
    const refusal = admission(config, caller)
    if (refusal !== null) {
      request.actor = caller.withoutUser
      if (reply === undefined) throw refusal
      return reply.problem(refusal)
    }
    request.actor = await caller.actor()
  })

  fastify.decorate('checkScope', async (request: FastifyRequest) => {
    const { scope, apiKeyOnly } = request.routeOptions.config
    if (apiKeyOnly === true && request.actor.via !== 'api-key') throw gwError('GW_ERR_FORBIDDEN', 'Only an API key can do this (a portal link or a client token cannot)')
    if (scope !== undefined) requireScope(request.actor.scopes, scope)
  })

  const adminToken = fastify.config.ADMIN_TOKEN
  const adminDigest = adminToken ? digest(adminToken) : null
  fastify.decorate('authenticateAdmin', async (request: FastifyRequest) => {
    if (!adminDigest) throw gwError('GW_ERR_FORBIDDEN', 'The admin API is disabled: set ADMIN_TOKEN to enable it')
    const raw = bearer(request.headers.authorization)
    if (!raw) {
      throw await fastify.authFailure(request.ip, gwError('GW_ERR_UNAUTHORIZED', 'Send the admin token as "Authorization: Bearer <ADMIN_TOKEN>"', {
        headers: { 'www-authenticate': 'Bearer realm="nemo-gateway-admin"' }
      }))
    }
    if (!timingSafeEqual(digest(raw), adminDigest)) throw await fastify.authFailure(request.ip, gwError('GW_ERR_FORBIDDEN', 'The admin token is not valid'))
  })
}

export default fp(auth, { name: 'auth', dependencies: ['domain', 'auth-throttle', 'problems'] })
