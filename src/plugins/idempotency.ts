// Idempotency-Key on POST routes (draft-ietf-httpapi-idempotency-key-header + Stripe's
// semantics). Records are keyed by (tenant, key, route) with a fingerprint of the request and
// kept IDEMPOTENCY_TTL_HOURS (24 h; the retention job deletes expired ones). A retry after completion replays the stored response; a retry while the first
// is running gets 409; the same key with another request gets 422. Responses that say "try
// again" (429, 5xx) are not stored, so retrying them really retries. An answer that carries a
// secret is never stored as sent: its route's `idempotentReplay` says what the record keeps
// instead and how a retry's answer is rebuilt from it (the secret read from where it is kept
// encrypted).
import { createHash } from 'node:crypto'
import fp from 'fastify-plugin'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { gwError } from '../errors.ts'
import { IDEMPOTENCY_KEY } from '../inputs.ts'

/** A record still in flight after this long belongs to a request that died with its process. */
const ABANDONED_MS = 20 * 60 * 1000

interface IdempotencyState { tenantId: string, key: string, route: string }

/** For a route whose success answer holds a secret (a JSON object). */
interface IdempotentReplay {
  /** What the record keeps of a success answer: it must hold no secret. */
  store: (body: Record<string, unknown>) => Record<string, unknown>
  /** A retry's answer, rebuilt from what `store` kept. */
  replay: (request: FastifyRequest, stored: Record<string, unknown>) => Promise<Record<string, unknown>>
}

declare module 'fastify' {
  interface FastifyRequest {
    idempotency: IdempotencyState | null
    /** The request's Idempotency-Key, once checked (also when the resource itself keeps it). */
    idempotencyKey: string | null
  }
  interface FastifyContextConfig {
    /**
     * Set on POST routes that honour Idempotency-Key. 'resource': the resource the route
     * creates stores the key itself (exports), so every retry (while the first request is in
     * flight, after its process died, or after it answered) is answered by the handler with
     * that resource as it is now, instead of 409 or a stored snapshot. A different request
     * with the same key is still 422.
     */
    idempotent?: boolean | 'resource'
    /** Set on idempotent routes whose success answer holds a secret. */
    idempotentReplay?: IdempotentReplay
  }
}

function parseKey (header: string | string[] | undefined): string | null {
  if (header === undefined) return null
  const raw = (Array.isArray(header) ? header[0] : header) ?? ''
  // the draft sends an sf-string ("..."); plain tokens are accepted too
  const unquoted = raw.length >= 2 && raw.startsWith('"') && raw.endsWith('"') ? raw.slice(1, -1) : raw
  if (!IDEMPOTENCY_KEY.test(unquoted)) throw gwError('GW_ERR_VALIDATION', 'Idempotency-Key must be 1-255 printable ASCII characters')
  return unquoted
}

function fingerprint (request: FastifyRequest): string {
  // the matched route with its decoded params, not the raw URL: `/v1/sessions/%61b/turns` and
  // `/v1/sessions/ab/turns` are the same request
  const hash = createHash('sha256').update(request.method).update('\n')
    .update(request.routeOptions.url ?? '').update('\n')
    .update(JSON.stringify(request.params ?? {})).update('\n')
    .update(JSON.stringify(request.query ?? {})).update('\n')
  if (request.body !== undefined && request.body !== null) {
    hash.update(JSON.stringify(request.body))
  } else {
    // streamed bodies (uploads) cannot be read twice: their type and length stand for them,
    // without the multipart boundary, which a client picks anew for every retry
    const type = String(request.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    hash.update(type).update(String(request.headers['content-length'] ?? ''))
  }
  return hash.digest('hex')
}

function isSuccess (status: number | null): boolean {
  return status !== null && status >= 200 && status < 300
}

async function idempotency (fastify: FastifyInstance): Promise<void> {
  const prisma = fastify.prisma
  const ttlMs = Math.round(fastify.config.IDEMPOTENCY_TTL_HOURS * 3600_000)
  fastify.decorateRequest('idempotency', null)
  fastify.decorateRequest('idempotencyKey', null)

  // the hooks run only on routes that take a key (`config.idempotent`): other routes pay nothing
  fastify.addHook('onRoute', (route) => {
    if (route.config?.idempotent === undefined || route.config.idempotent === false) return
    const list = <T>(hooks: T | T[] | undefined): T[] => hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks]
    route.preHandler = [...list(route.preHandler), claim]
    route.onSend = [...list(route.onSend), store]
    route.onRequestAbort = [...list(route.onRequestAbort), release]
  })

  async function claim (request: FastifyRequest, reply: FastifyReply): Promise<void> {
    if (request.method !== 'POST' || !request.actor) return
    const key = parseKey(request.headers['idempotency-key'])
    if (key === null) return
    request.idempotencyKey = key
    const tenantId = request.actor.tenantId
    const route = `${request.routeOptions.url ?? request.url} ${request.actor.userId}`
    const print = fingerprint(request)
    const now = new Date()
    const id = { tenantId_key_route: { tenantId, key, route } }

    const created = await prisma.idempotencyRecord.createMany({
      data: [{ tenantId, key, route, fingerprint: print, state: 'in_flight', expiresAt: new Date(now.getTime() + ttlMs) }],
      skipDuplicates: true
    })
    if (created.count === 0) {
      const existing = await prisma.idempotencyRecord.findUnique({ where: id })
      const stale = existing && (existing.expiresAt <= now ||
        (existing.state === 'in_flight' && now.getTime() - existing.createdAt.getTime() > ABANDONED_MS))
      if (!existing || stale) {
        // take the stale record over, atomically, so only one retry wins it
        const taken = await prisma.idempotencyRecord.updateMany({
          where: { tenantId, key, route, createdAt: existing?.createdAt },
          data: { fingerprint: print, state: 'in_flight', createdAt: now, expiresAt: new Date(now.getTime() + ttlMs), responseStatus: null, responseBody: null, responseHeaders: undefined }
        })
        if (taken.count === 0) throw gwError('GW_ERR_IDEMPOTENCY_IN_FLIGHT', 'A request with this Idempotency-Key is still being processed; retry later')
      } else if (existing.fingerprint !== print) {
        throw gwError('GW_ERR_IDEMPOTENCY_MISMATCH', 'This Idempotency-Key was used for a different request; use a new key for a new request')
      } else if (request.routeOptions.config.idempotent === 'resource') {
        // the resource holds the key: its handler answers with what the first request made,
        // as it is now (in flight, crashed or done), not a stored snapshot
        return
      } else if (existing.state === 'in_flight') {
        throw gwError('GW_ERR_IDEMPOTENCY_IN_FLIGHT', 'A request with this Idempotency-Key is still being processed; retry later', {
          headers: { 'retry-after': '1' }
        })
      } else {
        const headers = (existing.responseHeaders ?? {}) as Record<string, string>
        for (const [name, value] of Object.entries(headers)) reply.header(name, value)
        reply.header('idempotent-replayed', 'true')
        reply.code(existing.responseStatus ?? 200)
        const replay = request.routeOptions.config.idempotentReplay
        if (replay !== undefined && isSuccess(existing.responseStatus) && existing.responseBody !== null) {
          return await reply.send(JSON.stringify(await replay.replay(request, JSON.parse(existing.responseBody))))
        }
        return await reply.send(existing.responseBody ?? '')
      }
    }
    request.idempotency = { tenantId, key, route }
  }

  async function store (request: FastifyRequest, reply: FastifyReply, payload: unknown): Promise<unknown> {
    const state = request.idempotency
    if (!state) return payload
    request.idempotency = null
    const where = { tenantId_key_route: state }
    const status = reply.statusCode
    const storable = typeof payload === 'string' || Buffer.isBuffer(payload)
    if (!storable || status === 429 || status >= 500) {
      await prisma.idempotencyRecord.delete({ where }).catch(() => {})
      return payload
    }
    const headers: Record<string, string> = {}
    for (const name of ['content-type', 'location']) {
      const value = reply.getHeader(name)
      if (value !== undefined) headers[name] = String(value)
    }
    const replay = request.routeOptions.config.idempotentReplay
    const body = replay !== undefined && isSuccess(status) ? JSON.stringify(replay.store(JSON.parse(payload.toString()))) : payload.toString()
    await prisma.idempotencyRecord.update({
      where,
      data: { state: 'completed', responseStatus: status, responseHeaders: headers, responseBody: body }
    })
    return payload
  }

  // a request that dies before it answers must not hold its key for 20 minutes
  async function release (request: FastifyRequest): Promise<void> {
    const state = request.idempotency
    if (!state) return
    request.idempotency = null
    await prisma.idempotencyRecord.delete({ where: { tenantId_key_route: state } }).catch(() => {})
  }

  // a streamed answer (SSE) never passes onSend: its route stores the JSON a retry replays
  fastify.decorate('completeIdempotency', async (request: FastifyRequest, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const state = request.idempotency
    if (!state) return
    request.idempotency = null
    await prisma.idempotencyRecord.update({
      where: { tenantId_key_route: state },
      data: { state: 'completed', responseStatus: status, responseHeaders: { 'content-type': 'application/json; charset=utf-8', ...headers }, responseBody: JSON.stringify(body) }
    })
  })

  fastify.decorate('purgeIdempotency', async () => {
    const { count } = await prisma.idempotencyRecord.deleteMany({ where: { expiresAt: { lt: new Date() } } })
    return count
  })
  const sweep = setInterval(() => {
    prisma.idempotencyRecord.deleteMany({ where: { expiresAt: { lt: new Date() } } })
      .catch((err: unknown) => fastify.log.debug({ err }, 'idempotency sweep failed'))
  }, 60 * 60 * 1000)
  sweep.unref()
  fastify.addHook('onClose', async () => clearInterval(sweep))
}

declare module 'fastify' {
  interface FastifyInstance {
    purgeIdempotency: () => Promise<number>
    completeIdempotency: (request: FastifyRequest, status: number, body: unknown, headers?: Record<string, string>) => Promise<void>
  }
}

export default fp(idempotency, { name: 'idempotency', dependencies: ['db', 'auth'] })
