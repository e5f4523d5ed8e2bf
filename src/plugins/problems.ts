// Every error leaves the gateway as RFC 9457 application/problem+json with a stable GW_ERR_*
// code. Fastify's own errors (validation, body parsing, limits) are mapped here, in one
// place; anything unknown is a 500 whose detail never reaches the caller. So are the errors
// that never reach a route: Node's HTTP parser (`clientErrorHandler`: headers too large, not
// HTTP, a request too slow to arrive) and Fastify's router (`frameworkErrors`: a bad
// percent-encoding, a path segment too long), both wired into the server options (options.ts).
import { randomUUID } from 'node:crypto'
import { maxHeaderSize, STATUS_CODES } from 'node:http'
import type { Socket } from 'node:net'
import fp from 'fastify-plugin'
import { LogController, type FastifyError, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify'
import { toGatewayError } from '../error-map.ts'
import { catalog, GatewayError, gwError, PROBLEM_CONTENT_TYPE, problemType, toProblem, type GwCode } from '../errors.ts'

function sendProblem (request: FastifyRequest, reply: FastifyReply, error: GatewayError): FastifyReply {
  for (const [name, value] of Object.entries(error.headers)) reply.header(name, value)
  return reply
    .code(error.statusCode)
    .type(PROBLEM_CONTENT_TYPE)
    .send(toProblem(error, request.id))
}

declare module 'fastify' {
  interface FastifyReply {
    /**
     * Answers with the problem of an error object that answers many requests (admission's
     * refusals): the same document as the error handler's, its JSON built once per error, each
     * answer only putting its request id in. No log line at `info`: such refusals are counted
     * by whoever refuses.
     */
    problem: (error: GatewayError) => FastifyReply
  }
}

const INSTANCE_MARK = '\u0000instance\u0000'
/** Set on a request answered by `reply.problem`. */
const kCounted = Symbol('answered by a counted refusal')

/**
 * One log line per request, at its end: "request completed" (or "request errored") with the
 * request (method, url, ...), its status and its time. Fastify's "incoming request" is written
 * at `debug` (at `info` it doubled the logging of every request). A request answered by
 * `reply.problem` writes no line: a burst's refusals are counted (metrics), not logged one by one.
 */
export class GatewayLogController extends LogController {
  override incomingRequest (request: FastifyRequest): void {
    if (!this.isLogDisabled(request)) request.log.debug({ req: request }, 'incoming request')
  }

  override requestCompleted (error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    if ((request as unknown as Record<symbol, boolean>)[kCounted] || this.isLogDisabled(request)) return
    if (error) reply.log.error({ req: request, res: reply, err: error, responseTime: reply.elapsedTime }, 'request errored')
    else reply.log.info({ req: request, res: reply, responseTime: reply.elapsedTime }, 'request completed')
  }
}

/** The problem document of `error` as JSON, around its `instance`. */
function documentAround (error: GatewayError): { head: string, tail: string } {
  const [head, tail] = JSON.stringify(toProblem(error, INSTANCE_MARK)).split(JSON.stringify(INSTANCE_MARK)) as [string, string]
  return { head, tail }
}

/** The problem for an error of Node's HTTP parser (or its timers) on a connection. */
function connectionProblem (err: Error & { code?: string }): GatewayError {
  if (err.code === 'HPE_HEADER_OVERFLOW') {
    return gwError('GW_ERR_HEADERS_TOO_LARGE', `The request line and headers together exceed ${maxHeaderSize} bytes; send long values in the body`)
  }
  if (err.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    return gwError('GW_ERR_REQUEST_TIMEOUT', 'The request\'s headers (or its body) did not arrive in time; the connection is closed')
  }
  return gwError('GW_ERR_BAD_REQUEST', `The request is not valid HTTP/1.1 (${err.code ?? 'unreadable'})`)
}

/**
 * Fastify's `clientErrorHandler`: Node's HTTP parser failed before there was a request, so the
 * answer is written on the socket by hand, as Node and Fastify do, but as a problem document.
 */
export function clientErrorHandler (this: FastifyInstance, err: Error & { code?: string }, socket: Socket): void {
  // a reset connection has nobody to answer
  if (err.code === 'ECONNRESET' || socket.destroyed) return
  const error = connectionProblem(err)
  this.log.debug({ code: error.code, cause: err.code }, 'connection refused by the HTTP parser')
  // a response already under way (a body that timed out mid-download) cannot be replaced
  const pending = (socket as Socket & { _httpMessage?: { headersSent?: boolean } })._httpMessage
  if (socket.writable && pending?.headersSent !== true) {
    const body = JSON.stringify(toProblem(error, randomUUID()))
    socket.write(`HTTP/1.1 ${error.statusCode} ${STATUS_CODES[error.statusCode] ?? ''}\r\nContent-Type: ${PROBLEM_CONTENT_TYPE}\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`)
  }
  socket.destroy()
}

/** Fastify's `frameworkErrors`: the router refused the URL before any route or hook ran. */
export function frameworkErrors (err: FastifyError, request: FastifyRequest, reply: FastifyReply): void {
  let error: GatewayError
  if (err.code === 'FST_ERR_BAD_URL') {
    error = gwError('GW_ERR_BAD_REQUEST', 'The URL is not valid: "%" must start an escape of two hex digits, e.g. %2F')
  } else if (err.code === 'FST_ERR_MAX_PARAM_LENGTH') {
    error = gwError('GW_ERR_URI_TOO_LONG', 'A part of the URL path is longer than any id the gateway knows')
  } else {
    error = toGatewayError(err)
  }
  request.log.info({ code: error.code, cause: err.code }, 'request refused by the router')
  sendProblem(request, reply, error)
}

/** A route path (`/v1/sessions/:sessionId`, `/docs/*`) as a pattern over decoded request paths. */
function pathPattern (url: string): RegExp {
  const trimmed = url.length > 1 ? url.replace(/\/$/, '') : url
  const source = trimmed.split('/').map((segment) => {
    if (segment === '*') return '.*'
    return segment.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/:[A-Za-z0-9_]+/g, '[^/]+')
  }).join('/')
  return new RegExp(`^${source}$`)
}

/** The request's path as the router sees it: decoded, without query or trailing slash. */
function normalPath (url: string): string {
  const raw = url.split('?')[0]!
  let path: string
  try {
    path = decodeURIComponent(raw)
  } catch {
    path = raw
  }
  return path.length > 1 ? path.replace(/\/$/, '') : path
}

async function problems (fastify: FastifyInstance): Promise<void> {
  const built = new WeakMap<GatewayError, { head: string, tail: string }>()
  fastify.decorateRequest(kCounted, false)
  fastify.decorateReply('problem', function (this: FastifyReply, error: GatewayError) {
    (this.request as unknown as Record<symbol, boolean>)[kCounted] = true
    let document = built.get(error)
    if (document === undefined) built.set(error, document = documentAround(error))
    for (const name in error.headers) this.header(name, error.headers[name])
    return this.code(error.statusCode).type(PROBLEM_CONTENT_TYPE).send(document.head + JSON.stringify(this.request.id) + document.tail)
  })

  fastify.setErrorHandler((err, request, reply) => {
    const error = toGatewayError(err)
    if (error.statusCode >= 500) {
      request.log.error({ err: error.cause ?? err, code: error.code }, 'request failed')
    } else {
      request.log.info({ code: error.code, detail: error.message }, 'request refused')
    }
    // once the body has started (SSE, downloads) a problem cannot be sent any more
    if (reply.sent || reply.raw.headersSent) {
      reply.raw.destroy()
      return reply
    }
    return sendProblem(request, reply, error)
  })

  // HTTP/1.1 needs a Host header (RFC 9112 §3.2). Node's own check answers an empty 400, so it
  // is off (options.ts) and made here, where the answer can be a problem document.
  fastify.addHook('onRequest', async (request, reply) => {
    if (request.headers.host === undefined && request.raw.httpVersion === '1.1') {
      return await sendProblem(request, reply, gwError('GW_ERR_BAD_REQUEST', 'An HTTP/1.1 request needs a Host header'))
    }
  })

  // A known path asked with a method it does not serve is 405 with Allow (RFC 9110 §15.5.6),
  // not 404. The router only says "no match", so the paths of all routes are kept here.
  const paths: Array<{ pattern: RegExp, methods: Set<string> }> = []
  fastify.addHook('onRoute', (route) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method]
    // CORS preflights (plugins/cors.ts) answer OPTIONS on every path: that makes no path known
    if (methods.every(m => m === 'OPTIONS')) return
    const pattern = pathPattern(route.url ?? route.path)
    const known = paths.find((p) => p.pattern.source === pattern.source)
    if (known) for (const m of methods) known.methods.add(m)
    else paths.push({ pattern, methods: new Set(methods) })
  })

  fastify.setNotFoundHandler((request, reply) => {
    const path = normalPath(request.url)
    const allowed = new Set<string>()
    for (const p of paths) if (p.pattern.test(path)) for (const m of p.methods) allowed.add(m)
    if (allowed.has('GET')) allowed.add('HEAD')
    if (allowed.size > 0 && !allowed.has(request.method)) {
      const allow = [...allowed].join(', ')
      return sendProblem(request, reply, gwError('GW_ERR_METHOD_NOT_ALLOWED', `${request.method} is not served here; this path takes ${allow}`, { headers: { allow } }))
    }
    return sendProblem(request, reply, gwError('GW_ERR_ROUTE_NOT_FOUND', `No route ${request.method} ${request.url.split('?')[0]}`))
  })

  // The `type` URI of every problem resolves to its catalog entry.
  fastify.get('/problems/:code', {
    schema: { hide: true, params: { type: 'object', properties: { code: { type: 'string', maxLength: 64 } }, required: ['code'] } }
  }, async (request) => {
    const { code } = request.params as { code: string }
    if (!(code in catalog)) throw gwError('GW_ERR_NOT_FOUND', `Unknown problem type ${code}`)
    const entry = catalog[code as GwCode]
    return { type: problemType(code as GwCode), code, ...entry }
  })
}

export default fp(problems, { name: 'problems' })
