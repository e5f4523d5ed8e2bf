// GraphQL errors speak the gateway's error catalog: every error leaves with
// `extensions: { code: 'GW_ERR_...', status }` and the same detail a REST problem document
// would carry, never a stack trace, and an internal error's detail never leaves at all.
// GraphQL's own validation and coercion errors (no original error) are GW_ERR_VALIDATION.
import { GraphQLError, type ExecutionResult, type GraphQLFormattedError } from 'graphql'
import type { FastifyBaseLogger } from 'fastify'
import type { MercuriusContext } from 'mercurius'
import { GatewayError, gwError, isGatewayError, toProblem, type GwCode } from '../errors.ts'
import { toGatewayError } from '../error-map.ts'

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
}

function describe (err: GraphQLError, inValidation: boolean, log: FastifyBaseLogger): GatewayGraphQLError {
  const where = { ...(err.locations ? { locations: err.locations } : {}), ...(err.path ? { path: err.path } : {}) }
  if (hasGatewayCode(err) && !isGatewayError(err.originalError)) {
    return { formatted: { message: err.message, ...where, extensions: err.extensions }, source: null }
  }
  const gw = gatewayErrorOf(err, inValidation)
  if (gw.statusCode >= 500) {
    log.error({ err: gw.cause ?? err.originalError ?? err, code: gw.code, path: err.path }, 'graphql operation failed')
  } else {
    log.info({ code: gw.code, detail: gw.message, path: err.path }, 'graphql operation refused')
  }
  const problem = toProblem(gw, '')
  const { type: _type, title: _title, instance: _instance, detail, code, status, ...members } = problem
  return { formatted: { message: detail, ...where, extensions: { ...members, code, status } }, source: gw }
}

/** Every error of a result, flattened (mercurius wraps validation errors in one error). */
function describeErrors (errors: readonly GraphQLError[], log: FastifyBaseLogger): GatewayGraphQLError[] {
  const out: GatewayGraphQLError[] = []
  for (const err of errors) {
    const wrapper = err.originalError as { code?: unknown, errors?: unknown } | undefined
    const inner = wrapper?.code === 'MER_ERR_GQL_VALIDATION' ? wrapper.errors : undefined
    if (Array.isArray(inner) && inner.length > 0) {
      for (const e of inner) out.push(describe(e instanceof GraphQLError ? e : new GraphQLError((e as Error).message, { originalError: e as Error }), true, log))
    } else {
      out.push(describe(err, false, log))
    }
  }
  return out
}

/** A thrown thing as a GraphQL error that already carries its code (for subscriptions). */
export function asGraphQLError (err: unknown, log: FastifyBaseLogger): GraphQLError {
  const graphqlError = err instanceof GraphQLError ? err : new GraphQLError((err as Error)?.message ?? 'error', { originalError: err as Error })
  const [first] = describeErrors([graphqlError], log)
  const formatted = first!.formatted
  return new GraphQLError(formatted.message, { extensions: formatted.extensions })
}

/** A GraphQL error that a limit or a check of the gateway raises itself. */
export function catalogError (code: GwCode, message: string, extensions: Record<string, unknown> = {}): GraphQLError {
  const gw = gwError(code, message)
  return new GraphQLError(message, { extensions: { ...extensions, code, status: gw.statusCode } })
}

interface FormatterContext extends Partial<Pick<MercuriusContext, 'reply' | 'app'>> {}

/**
 * mercurius `errorFormatter`: an operation that ran answers 200 with its partial data; one
 * refused before it ran (credentials, validation, limits) answers the status REST would give,
 * with the same headers (WWW-Authenticate, Retry-After).
 */
export function errorFormatter (execution: ExecutionResult & Required<Pick<ExecutionResult, 'errors'>>, context: FormatterContext): { statusCode: number, response: ExecutionResult } {
  const log = context.reply?.log ?? context.app?.log
  const described = describeErrors(execution.errors, log as FastifyBaseLogger)
  const ran = execution.data !== undefined && execution.data !== null
  let statusCode = 200
  if (!ran) {
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
