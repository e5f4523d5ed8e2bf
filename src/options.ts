// Fastify server options shared by the process (server.ts) and the tests, so tests run the
// gateway with the same logger redaction, id generation, Ajv and timeout settings.
import { randomUUID } from 'node:crypto'
import { trace } from '@opentelemetry/api'
import { AjvCompiler, type BuildCompilerFromPool } from '@fastify/ajv-compiler'
import type { Server } from 'node:http'
import type { FastifyHttpOptions } from 'fastify'
import type { Config } from './config.ts'
import { clientErrorHandler, frameworkErrors } from './plugins/problems.ts'

/** Every place a secret could be logged from a request or an error object. */
export const REDACT_PATHS = [
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
export function traceIds (): Record<string, string> {
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
    // a caller's X-Request-Id is kept (so traces join up), otherwise a UUID
    requestIdHeader: 'x-request-id',
    genReqId: () => randomUUID(),
    // uploads of 500 MB and SSE streams are long: no global request timeout, but bounded
    // header time and idle keep-alive (style.md §9)
    requestTimeout: config.REQUEST_TIMEOUT_MS,
    connectionTimeout: 0,
    keepAliveTimeout: 72_000,
    bodyLimit: 1024 * 1024,
    // errors that never reach a route still answer problem+json (src/plugins/problems.ts)
    clientErrorHandler,
    frameworkErrors,
    http: { requireHostHeader: false },
    return503OnClosing: true,
    // a first start initialises the embedded database and applies migrations: seconds, not ms
    pluginTimeout: 120_000,
    ajv: {
      customOptions: { coerceTypes: 'array', removeAdditional: false, allErrors: false }
    },
    // query strings, params and headers are text and are coerced to their schema's types; a
    // JSON body already has types, so `{"text": 42}` is a 400, never the string "42"
    schemaController: { compilersFactory: { buildValidator: noBodyCoercion() } },
    ...overrides
  }
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
