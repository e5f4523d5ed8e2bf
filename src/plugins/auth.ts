// Who is calling. Tenants: `Authorization: Bearer ngw_<keyId>_<secret>` plus `X-User-Id`
// (the tenant's own user id; the user is created on first sight). Operators: the admin
// token. Verified keys and known users are cached for AUTH_CACHE_TTL_MS so the hot path does
// not touch the database; a revoked key therefore stops working within that many ms.
// Every failed authentication goes through the auth-throttle plugin (429 past a per-address limit).
import { createHash, hash, timingSafeEqual } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import { gwError } from '../errors.ts'
import type { VerifiedKey } from '../domain/tenancy/index.ts'
import { isValidExternalUserId } from '../domain/tenancy/index.ts'
import { TtlCache } from '../domain/common/index.ts'
import type { RequestActor } from '../domain/common/index.ts'

declare module 'fastify' {
  interface FastifyRequest {
    actor: RequestActor
  }
  interface FastifyContextConfig {
    /** A route on the tenant's own resources: the end user (X-User-Id) is not needed. */
    tenantOnly?: boolean
    /** A route that answers for one end user when X-User-Id is sent, else for the whole tenant. */
    userOptional?: boolean
  }
  interface FastifyInstance {
    authenticateTenant: (request: FastifyRequest) => Promise<void>
    authenticateAdmin: (request: FastifyRequest) => Promise<void>
    /** Resolves an API key + user id to an actor (also used by GraphQL connection_init from `address`). */
    resolveActor: (authorization: string | undefined, userId: string | undefined, address: string) => Promise<RequestActor>
    /** Drops cached key verdicts, on every instance (after a revoke/rotate). */
    forgetKeys: () => void
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

async function auth (fastify: FastifyInstance): Promise<void> {
  const { apiKeys, users } = fastify.domain
  const ttl = fastify.config.AUTH_CACHE_TTL_MS
  const keyCache = new TtlCache<VerifiedKey | null>(ttl, MAX_CACHE)
  const touched = new Map<string, number>()

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

  async function resolveActor (authorization: string | undefined, userId: string | undefined, address: string): Promise<RequestActor> {
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
    // known users come from Users' own cache (created on first sight)
    const internalUserId = (await users.ensure(key.tenantId, userId)).id
    return { tenantId: key.tenantId, userId: internalUserId, apiKeyId: key.apiKeyId, keyId: key.keyId, externalUserId: userId }
  }

  fastify.decorateRequest('actor', null as unknown as RequestActor)
  fastify.decorate('resolveActor', resolveActor)
  // a revoke or rotate through any instance empties every instance's verdicts (src/domain/cache-sync.ts)
  fastify.domain.caches.onChange((change) => { if (change.kind === 'keys') keyCache.clear() })
  fastify.decorate('forgetKeys', () => { fastify.domain.caches.changed({ kind: 'keys' }) })

  fastify.decorate('authenticateTenant', async (request: FastifyRequest) => {
    const config = request.routeOptions.config
    if (config.tenantOnly === true || (config.userOptional === true && (request.headers['x-user-id'] ?? '') === '')) {
      // a tenant resource (webhook endpoints): X-User-Id is accepted and ignored; a tenant-wide
      // actor has no user (userId '')
      const key = await resolveKey(request.headers.authorization, request.ip)
      request.actor = { tenantId: key.tenantId, userId: '', apiKeyId: key.apiKeyId, keyId: key.keyId, externalUserId: '' }
      return
    }
    const userId = request.headers['x-user-id']
    request.actor = await resolveActor(request.headers.authorization, Array.isArray(userId) ? userId[0] : userId, request.ip)
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

export default fp(auth, { name: 'auth', dependencies: ['domain', 'auth-throttle'] })
