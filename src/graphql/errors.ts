// GraphQL errors speak the gateway's error catalog: every error leaves with
// `extensions: { code: 'GW_ERR_...', status }` and the same detail a REST problem document
// would carry, never a stack trace, and an internal error's detail never leaves at all.
// GraphQL's own validation and coercion errors (no original error) are GW_ERR_VALIDATION.
// The status of an answer follows GraphQL over HTTP (src/graphql/over-http.ts).
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from 'graphql'
import type { FastifyBaseLogger } from 'fastify'
import type { MercuriusContext } from 'mercurius'
import { GatewayError, gwError, isGatewayError, toProblem, type GwCode } from '../errors.ts'
import { toGatewayError } from '../error-map.ts'
import { GRAPHQL_RESPONSE_JSON, JSON_MEDIA_TYPE, negotiate } from './over-http.ts'

/** A GraphQL error that already speaks the catalog (built by the gateway itself). */
function hasGatewayCode (err: GraphQLError): boolean {
  const code = err.extensions?.code
  return typeof code === 'string' && code.startsWith('GW_ERR_')
}

/** The catalog error behind anything a resolver, hook or mercurius threw. */
function gatewayErrorOf (err: GraphQLError, inValidation: boolean): GatewayError {
  const original = err.originalError
  if (isGatewayError(original)) return original
  // no original error: GraphQL's own syntax, validation or variable coercion errors
  if (original === undefined || inValidation) return gwError('GW_ERR_VALIDATION', err.message)
  const code = (original as { code?: unknown }).code
  if (code === 'MER_ERR_METHOD_NOT_ALLOWED') {
    return gwError('GW_ERR_METHOD_NOT_ALLOWED', 'Only queries can be sent with GET; send mutations with POST, subscriptions over the WebSocket')
  }
  if (typeof code === 'string' && code.startsWith('MER_ERR_GQL_')) return gwError('GW_ERR_VALIDATION', original.message)
  return toGatewayError(original)
}

interface GatewayGraphQLError {
  formatted: GraphQLFormattedError
  /** The catalog error, when the gateway built the error from one. */
  source: GatewayError | null
  /**
   * A GraphQL request error of the document or its variables (syntax, validation, coercion,
   * depth and cost), as opposed to one of the HTTP request (its body, its key).
   */
  documentError: boolean
}

function describe (err: GraphQLError, inValidation: boolean, log: FastifyBaseLogger, documentError: boolean): GatewayGraphQLError {
  const where = { ...(err.locations ? { locations: err.locations } : {}), ...(err.path ? { path: err.path } : {}) }
  if (hasGatewayCode(err) && !isGatewayError(err.originalError)) {
    return { formatted: { message: err.message, ...where, extensions: err.extensions }, source: null, documentError }
  }
  const gw = gatewayErrorOf(err, inValidation)
  if (gw.statusCode >= 500) {
    log.error({ err: gw.cause ?? err.originalError ?? err, code: gw.code, path: err.path }, 'graphql operation failed')
  } else {
    log.info({ code: gw.code, detail: gw.message, path: err.path }, 'graphql operation refused')
  }
  const problem = toProblem(gw, '')
  const { type: _type, title: _title, instance: _instance, detail, code, status, ...members } = problem
  return { formatted: { message: detail, ...where, extensions: { ...members, code, status } }, source: gw, documentError }
}

/** Every error of a result, flattened (mercurius wraps validation errors in one error). */
function describeErrors (errors: readonly GraphQLError[], log: FastifyBaseLogger): GatewayGraphQLError[] {
  const out: GatewayGraphQLError[] = []
  for (const err of errors) {
    const wrapper = err.originalError as { code?: unknown, errors?: unknown } | undefined
    const inner = wrapper?.code === 'MER_ERR_GQL_VALIDATION' ? wrapper.errors : undefined
    if (Array.isArray(inner) && inner.length > 0) {
      // GraphQL's own (syntax, validation, coercion) or the body's schema (not a GraphQLError)
      for (const e of inner) {
        out.push(e instanceof GraphQLError
          ? describe(e, true, log, true)
          : describe(new GraphQLError((e as Error).message, { originalError: e as Error }), true, log, false))
      }
    } else {
      // no original error: GraphQL's own, or a limit's (catalogError) when it is GW_ERR_VALIDATION
      const documentError = err.originalError === undefined && (!hasGatewayCode(err) || err.extensions.code === 'GW_ERR_VALIDATION')
      out.push(describe(err, false, log, documentError))
    }
  }
  return out
}

/** Whatever a WebSocket operation threw, as the errors of its `error` message (each with its code). */
export function formatErrors (err: unknown, log: FastifyBaseLogger): GraphQLFormattedError[] {
  const graphqlError = err instanceof GraphQLError ? err : new GraphQLError((err as Error)?.message ?? 'error', { originalError: err as Error })
  return describeErrors([graphqlError], log).map(d => d.formatted)
}

/** A thrown thing as a GraphQL error that already carries its code (for subscriptions). */
export function asGraphQLError (err: unknown, log: FastifyBaseLogger): GraphQLError {
  const [first] = formatErrors(err, log)
  return new GraphQLError(first!.message, { extensions: first!.extensions })
}

/** A GraphQL error that a limit or a check of the gateway raises itself. */
export function catalogError (code: GwCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const gw = gwError(code, message)
  return new GraphQLError(message, { extensions: { ...extensions, code, status: gw.statusCode } })
}

interface FormatterContext extends Partial<Pick<MercuriusContext, 'reply' | 'app'>> {}

/**
 * mercurius `errorFormatter`. The status, by GraphQL over HTTP:
 * - an operation that ran (`data` is not null) answers 200 with its partial data;
 * - one refused before it ran (no `data`: credentials, limits, a malformed request) answers
 *   the status REST would give, with the same headers (WWW-Authenticate, Retry-After), except
 *   that a document or variables error answers 200 to an `application/json` client;
 * - `data: null` (an error in a non-null root field) answers 200 to an
 *   `application/graphql-response+json` client, and the status REST would give otherwise.
 */
export function errorFormatter (execution: ExecutionResult & Required<Pick<ExecutionResult, 'errors'>>, context: FormatterContext): { statusCode: number, response: ExecutionResult } {
  const log = context.reply?.log ?? context.app?.log
  const described = describeErrors(execution.errors, log as FastifyBaseLogger)
  const ran = execution.data !== undefined && execution.data !== null
  const mediaType = negotiate(context.reply?.request.headers.accept)
  const answeredAsGraphQL = execution.data === undefined
    ? mediaType === JSON_MEDIA_TYPE && described.every(d => d.documentError)
    : mediaType === GRAPHQL_RESPONSE_JSON
  let statusCode = 200
  if (!ran && !answeredAsGraphQL) {
    const first = described[0]
    const status = first?.formatted.extensions?.status
    statusCode = typeof status === 'number' ? status : 400
    for (const [name, value] of Object.entries(first?.source?.headers ?? {})) context.reply?.header(name, value)
  }
  // formatted errors are plain JSON: mercurius sends them as they are
  const errors = described.map(d => d.formatted) as unknown as GraphQLError[]
  // a request refused before it ran has no `data` at all (GraphQL over HTTP)
  return { statusCode, response: execution.data === undefined ? { errors } : { data: execution.data, errors } }
}
