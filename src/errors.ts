// The one error catalog. Every error a caller can see has a stable GW_ERR_* code, a status
// and a title here; the app's error handler turns a GatewayError into RFC 9457
// application/problem+json. Upstream codes, undici errors and Prisma errors are mapped into
// this catalog by their owners (nemo/errors.ts, plugins/db.ts), never ad hoc in routes.

export const catalog = {
  GW_ERR_VALIDATION: { status: 400, title: 'The request is not valid' },
  GW_ERR_BAD_REQUEST: { status: 400, title: 'Bad request' },
  GW_ERR_UNAUTHORIZED: { status: 401, title: 'Authentication required' },
  GW_ERR_FORBIDDEN: { status: 403, title: 'Not allowed' },
  GW_ERR_SCOPE_REQUIRED: { status: 403, title: 'The credential lacks a scope this needs' },
  GW_ERR_ORIGIN_NOT_ALLOWED: { status: 403, title: 'The tenant does not allow this origin' },
  GW_ERR_NOT_FOUND: { status: 404, title: 'Not found' },
  GW_ERR_ROUTE_NOT_FOUND: { status: 404, title: 'No such route' },
  GW_ERR_METHOD_NOT_ALLOWED: { status: 405, title: 'Method not allowed' },
  GW_ERR_NOT_ACCEPTABLE: { status: 406, title: 'Not acceptable' },
  GW_ERR_REQUEST_TIMEOUT: { status: 408, title: 'The request did not arrive in time' },
  GW_ERR_CONFLICT: { status: 409, title: 'Conflict' },
  GW_ERR_TURN_IN_PROGRESS: { status: 409, title: 'A turn is already running in this session' },
  GW_ERR_IDEMPOTENCY_IN_FLIGHT: { status: 409, title: 'A request with this Idempotency-Key is still running' },
  GW_ERR_IDEMPOTENCY_MISMATCH: { status: 422, title: 'Idempotency-Key reused with a different request' },
  GW_ERR_PAYLOAD_TOO_LARGE: { status: 413, title: 'Payload too large' },
  GW_ERR_URI_TOO_LONG: { status: 414, title: 'The URL is too long' },
  GW_ERR_UNSUPPORTED_MEDIA_TYPE: { status: 415, title: 'Unsupported media type' },
  GW_ERR_RANGE_NOT_SATISFIABLE: { status: 416, title: 'The range lies outside the file' },
  GW_ERR_UNPROCESSABLE: { status: 422, title: 'The request cannot be processed' },
  GW_ERR_NOTHING_TO_EXPORT: { status: 422, title: 'The timeline has nothing to render yet' },
  GW_ERR_EXPORT_NOT_READY: { status: 409, title: 'The export has not completed' },
  GW_ERR_EXPORT_FINISHED: { status: 409, title: 'The export has already finished' },
  GW_ERR_EXPORT_EXPIRED: { status: 410, title: 'The export\'s file has been deleted (retention)' },
  GW_ERR_WEBHOOK_URL_NOT_ALLOWED: { status: 422, title: 'The webhook URL is not allowed' },
  GW_ERR_RATE_LIMITED: { status: 429, title: 'Too many requests' },
  GW_ERR_TOO_MANY_SUBSCRIPTIONS: { status: 429, title: 'Too many subscriptions on this connection' },
  GW_ERR_TOO_MANY_CONNECTIONS: { status: 429, title: 'Too many WebSocket connections for this API key' },
  GW_ERR_TOO_MANY_TURNS: { status: 429, title: 'This tenant has too many turns running' },
  GW_ERR_HEADERS_TOO_LARGE: { status: 431, title: 'The request headers are too large' },
  GW_ERR_MINT_LIMIT: { status: 429, title: 'Upstream token mint budget exhausted' },
  GW_ERR_CREDITS_EXHAUSTED: { status: 402, title: 'Upstream credits exhausted' },
  GW_ERR_BUDGET_EXCEEDED: { status: 402, title: 'The tenant\'s credit budget is used up' },
  GW_ERR_PLAN_REQUIRED: { status: 402, title: 'The upstream plan does not allow this' },
  GW_ERR_UPSTREAM_AUTH: { status: 502, title: 'The upstream rejected the gateway\'s token' },
  GW_ERR_UPSTREAM_SESSION_NOT_FOUND: { status: 502, title: 'The upstream lost the session' },
  GW_ERR_UPSTREAM_RATE_LIMITED: { status: 503, title: 'The upstream is rate limiting' },
  GW_ERR_UPSTREAM_BAD_REQUEST: { status: 502, title: 'The upstream refused the request' },
  GW_ERR_UPSTREAM_UNAVAILABLE: { status: 502, title: 'The upstream is unavailable' },
  GW_ERR_UPSTREAM_TIMEOUT: { status: 504, title: 'The upstream timed out' },
  GW_ERR_UPSTREAM_BAD_RESPONSE: { status: 502, title: 'The upstream answered with something the gateway cannot read' },
  GW_ERR_NO_CREDENTIAL: { status: 503, title: 'No upstream token is available' },
  GW_ERR_AT_CAPACITY: { status: 503, title: 'The gateway instance is running all the turns it can' },
  GW_ERR_UNAVAILABLE: { status: 503, title: 'Service unavailable' },
  GW_ERR_INTERNAL: { status: 500, title: 'Internal error' }
} as const satisfies Record<string, { status: number, title: string }>

export type GwCode = keyof typeof catalog

export interface GatewayErrorOptions {
  /** Extra RFC 9457 extension members, e.g. `retryAfter`, `hint`, `errors`. */
  extensions?: Record<string, unknown>
  /** Response headers to send with the problem (e.g. Retry-After). */
  headers?: Record<string, string>
  cause?: unknown
  /** Override the catalog status (rare: upstream 4xx mapped as-is). */
  status?: number
}

export class GatewayError extends Error {
  readonly code: GwCode
  readonly statusCode: number
  readonly title: string
  readonly extensions: Record<string, unknown>
  readonly headers: Record<string, string>

  constructor (code: GwCode, detail?: string, opts: GatewayErrorOptions = {}) {
    const entry = catalog[code]
    super(detail ?? entry.title, opts.cause === undefined ? undefined : { cause: opts.cause })
    this.name = 'GatewayError'
    this.code = code
    this.statusCode = opts.status ?? entry.status
    this.title = entry.title
    this.extensions = opts.extensions ?? {}
    this.headers = opts.headers ?? {}
  }
}

export function gwError (code: GwCode, detail?: string, opts?: GatewayErrorOptions): GatewayError {
  return new GatewayError(code, detail, opts)
}

export function isGatewayError (err: unknown, code?: GwCode): err is GatewayError {
  return err instanceof GatewayError && (code === undefined || err.code === code)
}

export interface Problem {
  type: string
  title: string
  status: number
  detail: string
  code: GwCode
  instance: string
  [extension: string]: unknown
}

export const PROBLEM_CONTENT_TYPE = 'application/problem+json; charset=utf-8'

export function problemType (code: GwCode): string {
  return `/problems/${code}`
}

/** The problem document for an error; 5xx details are replaced by the title. */
export function toProblem (err: GatewayError, instance: string): Problem {
  const hideDetail = err.statusCode >= 500 && err.code === 'GW_ERR_INTERNAL'
  return {
    ...err.extensions,
    type: problemType(err.code),
    title: err.title,
    status: err.statusCode,
    detail: hideDetail ? err.title : err.message,
    code: err.code,
    instance
  }
}
