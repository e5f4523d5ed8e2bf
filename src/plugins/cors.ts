// Browsers (CORS) for the tenants' web apps. A preflight carries no credentials, so it is
// answered for an origin that some tenant allows; a real request gets
// Access-Control-Allow-Origin only when its origin is allowed by the caller's own tenant
// (known once it has authenticated: the check runs as a preHandler, and on the way out for
// an answer that never reached one, like a 403 for a missing scope). A 401 is readable by
// any allowed origin, so a page can tell an expired token from a network failure.
// No cookies are involved (Authorization headers only): credentials mode stays off.
// WebSocket upgrades are checked in plugins/graphql.ts with the same rule.
import fp from 'fastify-plugin'
import fastifyCors from '@fastify/cors'
import type { FastifyInstance, FastifyRequest } from 'fastify'

const METHODS = 'GET,HEAD,POST,PATCH,DELETE'
const ALLOWED_HEADERS = 'authorization,content-type,idempotency-key,last-event-id,x-request-id,traceparent'
const EXPOSED_HEADERS = 'x-request-id,retry-after,location,ratelimit-limit,ratelimit-remaining,ratelimit-reset,idempotent-replayed'
const PREFLIGHT_MAX_AGE_S = 600

function originOf (request: FastifyRequest): string | undefined {
  const origin = request.headers.origin
  return typeof origin === 'string' && origin !== 'null' ? origin : undefined
}

async function cors (fastify: FastifyInstance): Promise<void> {
  const { origins } = fastify.domain

  /** May this request's page read the answer? */
  async function allowed (request: FastifyRequest, origin: string, status?: number): Promise<boolean> {
    const tenantId = request.actor?.tenantId
    if (tenantId) return await origins.allowedFor(tenantId, origin)
    return status === 401 && await origins.allowedByAny(origin)
  }

  await fastify.register(fastifyCors, {
    hook: 'preHandler',
    delegator: async (request: FastifyRequest) => {
      const origin = originOf(request)
      if (origin === undefined) return { origin: false }
      if (request.method === 'OPTIONS') {
        if (!await origins.allowedByAny(origin)) return { origin: false }
        return { origin, methods: METHODS, allowedHeaders: ALLOWED_HEADERS, maxAge: PREFLIGHT_MAX_AGE_S, strictPreflight: false }
      }
      return await allowed(request, origin) ? { origin, exposedHeaders: EXPOSED_HEADERS } : { origin: false }
    }
  })

  fastify.addHook('onSend', async (request, reply) => {
    const origin = originOf(request)
    if (origin === undefined || reply.hasHeader('access-control-allow-origin') || request.method === 'OPTIONS') return
    if (reply.statusCode < 400 || !await allowed(request, origin, reply.statusCode)) return
    reply.header('access-control-allow-origin', origin)
    reply.header('access-control-expose-headers', EXPOSED_HEADERS)
    const vary = reply.getHeader('vary')
    if (vary === undefined) reply.header('vary', 'Origin')
    else if (!String(vary).toLowerCase().includes('origin')) reply.header('vary', `${String(vary)}, Origin`)
  })
}

export default fp(cors, { name: 'cors', dependencies: ['domain', 'auth'] })
