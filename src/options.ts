// Fastify server options shared by the process (server.ts) and the tests, so tests run the
// gateway with the same logger redaction, id generation, Ajv and timeout settings.
import { randomUUID } from 'node:crypto'
import { trace } from '@opentelemetry/api'
import { AjvCompiler, type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import { SerializerSelector } from '@fastify/fast-json-stringify-compiler'
import { createServer, type Server } from 'node:http'
import type { Socket } from 'node:net'
import type { FastifyHttpOptions } from 'fastify'
import type { Config } from './config.ts'
import { clientErrorHandler, frameworkErrors, GatewayLogController } from './plugins/problems.ts'
import { takeAccessToken } from './http/access-token.ts'

/** Every place a secret could be logged from a request or an error object. */
const REDACT_PATHS = [
  'req.headers.authorization',
  'req.headers["x-api-key"]',
  'req.headers.cookie',
  'headers.authorization',
  '*.headers.authorization',
  'busboyOptions.headers.authorization',
  'headers["x-api-key"]',
  'authorization',
  'token',
  '*.token',
  'apiKey',
  '*.apiKey',
  'secret',
  '*.secret'
]

/** `trace_id` and `span_id` of the active span, for log lines (nothing when none is active). */
function traceIds (): Record<string, string> {
  const context = trace.getActiveSpan()?.spanContext()
  if (context === undefined || context.traceId === '00000000000000000000000000000000') return {}
  return { trace_id: context.traceId, span_id: context.spanId }
}

type ServerOptions = FastifyHttpOptions<Server>

export function serverOptions (config: Config, overrides: ServerOptions = {}): ServerOptions {
  return {
    logger: {
      level: config.LOG_LEVEL,
      redact: { paths: REDACT_PATHS, censor: '[redacted]' },
      // every line logged inside a traced request (or turn, export, delivery) joins its trace
      mixin: traceIds
    },
    // a burst's refusals are counted, not logged one by one (plugins/problems.ts)
    logController: new GatewayLogController(),
    // a caller's X-Request-Id is kept (so traces join up), otherwise a UUID
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // an EventSource's ?access_token= leaves the URL before anything can log or trace it
    rewriteUrl: takeAccessToken,
    // style.md §9, every one from the config (README: Configuration): uploads of 500 MB and
    // SSE streams are long, so no whole-request limit by default; but a request's headers
    // must arrive within HTTP_HEADERS_TIMEOUT_MS (slowloris, sockets that never send), an idle
    // keep-alive socket is closed after HTTP_KEEPALIVE_TIMEOUT_MS, and a connection silent
    // both ways for HTTP_CONNECTION_TIMEOUT_MS is closed even mid-request
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: config.HTTP_CONNECTION_TIMEOUT_MS,
    keepAliveTimeout: config.HTTP_KEEPALIVE_TIMEOUT_MS,
    bodyLimit: 1024 * 1024,
    // errors that never reach a route still answer problem+json (src/plugins/problems.ts)
    clientErrorHandler,
    frameworkErrors,
    http: {
      requireHostHeader: false,
      headersTimeout: config.HTTP_HEADERS_TIMEOUT_MS,
      // Node checks the headers and request timeouts this often (30 s by default, which would
      // let a 10 s limit run to 40 s)
      connectionsCheckingInterval: Math.min(1000, Math.max(50, Math.floor(config.HTTP_HEADERS_TIMEOUT_MS / 4)))
    },
    serverFactory: (handler, opts) => {
      // Fastify's own HTTP/1.1 server, plus one bound Node lacks (below)
      const server = createServer((opts.http ?? {}) as Parameters<typeof createServer>[0] & object, handler)
      server.keepAliveTimeout = opts.keepAliveTimeout as number
      server.requestTimeout = opts.requestTimeout as number
      server.setTimeout(opts.connectionTimeout as number)
      server.on('connection', (socket: Socket) => { firstByteWithin(socket, config.HTTP_HEADERS_TIMEOUT_MS) })
      return server
    },
    return503OnClosing: true,
    // a first start initialises the embedded database and applies migrations: seconds, not ms
    pluginTimeout: 120_000,
    ajv: {
      customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false }
    },
    schemaController: schemaController({ lazy: true }),
    ...overrides
  }
}

/**
 * Node's headers timeout starts at a request's first byte: a connection that never sends one
 * would stay open until HTTP_CONNECTION_TIMEOUT_MS. It gets the headers timeout too, and is
 * closed without an answer (it asked nothing; a browser's preconnect just opens another).
 */
function firstByteWithin (socket: Socket, ms: number): void {
  const timer = setTimeout(() => { if (socket.bytesRead === 0) socket.destroy() }, ms)
  timer.unref()
  socket.once('close', () => clearTimeout(timer))
}

/**
 * Query strings, params and headers are text and are coerced to their schema's types; a JSON
 * body already has types, so `{"text": 42}` is a 400, never the string "42".
 *
 * `lazy`: each route's validators and response serializers are compiled when first used, not
 * at boot. Compiled at boot, the ~250 routes (GET ones twice, for their HEAD twin) cost about a
 * second of CPU and 10 MiB of heap, most of it for routes an instance may never serve. The
 * first request of a route pays its compile (~1-5 ms). A schema that does not compile would
 * then fail its first request instead of the boot: test/schemas.test.ts builds the whole app
 * with `lazy: false` so it fails a test first.
 */
export function schemaController ({ lazy }: { lazy: boolean }): NonNullable<ServerOptions['schemaController']> {
  const buildValidator = noBodyCoercion()
  const buildSerializer = SerializerSelector()
  if (!lazy) return { compilersFactory: { buildValidator, buildSerializer } }
  return {
    compilersFactory: {
      buildValidator: ((externalSchemas, options) => lazyValidators(buildValidator(externalSchemas, options))) as typeof buildValidator,
      buildSerializer: ((externalSchemas, options) => lazySerializers(buildSerializer(externalSchemas, options))) as typeof buildSerializer
    }
  }
}

type Validate = ((data: unknown, context?: unknown) => unknown) & { errors?: unknown, schemaEnv?: unknown }

/** Fastify reads `errors` after a failed validation, and `schemaEnv` (Ajv's) to pass the parent. */
function lazyValidators<C> (compile: C): C {
  return ((route: unknown) => {
    let validate: Validate | undefined
    const compiled = () => (validate ??= (compile as (route: unknown) => Validate)(route))
    const onUse: Validate = (data, context) => compiled()(data, context)
    Object.defineProperty(onUse, 'errors', { get: () => compiled().errors })
    Object.defineProperty(onUse, 'schemaEnv', { get: () => compiled().schemaEnv })
    return onUse
  }) as C
}

function lazySerializers<C> (compile: C): C {
  return ((route: unknown) => {
    let serialize: ((data: unknown) => string) | undefined
    return (data: unknown) => (serialize ??= (compile as (route: unknown) => (data: unknown) => string)(route))(data)
  }) as C
}

function noBodyCoercion (): BuildCompilerFromPool {
  const pool = AjvCompiler()
  return (externalSchemas, options = {}) => {
    const coercing = pool(externalSchemas, options)
    const strict = pool(externalSchemas, { ...options, customOptions: { ...options.customOptions, coerceTypes: false } } as typeof options)
    // Fastify calls the compiler with the route's { schema, method, url, httpPart }
    type Compile = (route: { httpPart?: string }) => ReturnType<typeof strict>
    const pick: Compile = (route) => route.httpPart === 'body' ? (strict as unknown as Compile)(route) : (coercing as unknown as Compile)(route)
    return pick as unknown as typeof strict
  }
}
