// Database errors mapped into the gateway's error catalog, in one place (style.md §7).
// The problems plugin asks `databaseErrorToGatewayError` before falling back to a 500;
// domain code may also use `mapDatabaseError` in a catch to turn, say, a unique violation
// into a 409 with a useful detail.
import { Prisma } from '../generated/prisma/client.ts'
import { gwError, isGatewayError, type GatewayError } from '../errors.ts'

// Prisma's "the database cannot be used right now" codes: P1xxx (connection, auth, timeouts),
// P2024 (no connection from the pool in time), P2028 (a transaction could not start, or ran
// out of time, in the given time), P2037 (too many connections).
const UNAVAILABLE_CODES = new Set(['P2024', 'P2028', 'P2037'])
const NOT_FOUND_CODES = new Set(['P2025', 'P2001', 'P2018'])
// Postgres SQLSTATE classes: 08 connection exception, 53 insufficient resources,
// 57P0x shutdown / cannot connect now, 57014 a statement cut by statement_timeout.
const PG_UNAVAILABLE = /^(08|53|57P0|57014)/
const NODE_UNAVAILABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE', 'ENOTFOUND', 'EAI_AGAIN', 'EHOSTUNREACH'])
// node-postgres says "timed out" and "lost the server" with plain Errors, and Prisma's
// adapter passes them on as they are: their messages are all there is to go by
const DRIVER_UNAVAILABLE = new Set([
  'timeout exceeded when trying to connect', // pg-pool: no connection in connectionTimeoutMillis
  'Query read timeout', // pg: no answer in query_timeout
  'Connection terminated due to connection timeout',
  'Connection terminated unexpectedly',
  'Connection terminated'
])
const RETRY_AFTER = { 'retry-after': '1' }
// Postgres SQLSTATE 22008 (a date/time out of range, e.g. year 0) and 22003 (a number out of
// range): a value the caller sent that passed its schema but not the column. Inputs are
// validated before they reach the database; this keeps one that slips through a 400, not a 500.
const PG_OUT_OF_RANGE = new Set(['22008', '22003'])

/** The SQLSTATE behind a Prisma error raised by the driver adapter, if any. */
function sqlStateOf (meta: Record<string, unknown> | undefined): string | undefined {
  const cause = (meta?.driverAdapterError as { cause?: { originalCode?: unknown } } | undefined)?.cause
  return typeof cause?.originalCode === 'string' ? cause.originalCode : undefined
}

// What a unique or foreign key violation means to a caller, in the product's words: a
// constraint's name (`Tenant_name_key`) or its columns are the schema's words, not the caller's.
const ALREADY_EXISTS: Record<string, string> = {
  Tenant: 'A tenant with this name already exists; pick another name',
  ApiKey: 'An API key with this id already exists; issue the key again',
  User: 'This end user already exists',
  Credential: 'This upstream token is registered already',
  Export: 'An export was already started with this idempotency key',
  IdempotencyRecord: 'A request with this Idempotency-Key is already being handled; retry later'
}
const THING: Record<string, string> = { ApiKey: 'API key', IdempotencyRecord: 'idempotent request', MintLedger: 'token mint' }

/** A model name as a caller would say it: `WebhookEndpoint` -> `webhook endpoint`. */
function thingOf (meta: Record<string, unknown> | undefined): string {
  const model = typeof meta?.modelName === 'string' ? meta.modelName : undefined
  if (model === undefined) return 'record'
  return THING[model] ?? model.replace(/([a-z0-9])([A-Z])/g, '$1 $2').toLowerCase()
}

function alreadyExists (meta: Record<string, unknown> | undefined): string {
  const model = typeof meta?.modelName === 'string' ? meta.modelName : ''
  return ALREADY_EXISTS[model] ?? `The ${thingOf(meta)} already exists`
}

/** A GatewayError for a database error; `undefined` when `err` is not one. */
export function databaseErrorToGatewayError (err: unknown): GatewayError | undefined {
  if (isGatewayError(err)) return err
  if (err instanceof Prisma.PrismaClientKnownRequestError) {
    const { code, meta } = err
    if (code === 'P2002') return gwError('GW_ERR_CONFLICT', alreadyExists(meta), { cause: err })
    if (code === 'P2003') {
      return gwError('GW_ERR_CONFLICT', `The ${thingOf(meta)} refers to something that no longer exists, or something else still needs it`, { cause: err })
    }
    if (PG_OUT_OF_RANGE.has(sqlStateOf(meta) ?? '')) {
      return gwError('GW_ERR_VALIDATION', 'A date or number in the request is outside the range the gateway can store', { cause: err })
    }
    if (code === 'P2034') {
      return gwError('GW_ERR_CONFLICT', 'A concurrent change got in the way; retry', { cause: err, headers: RETRY_AFTER })
    }
    if (NOT_FOUND_CODES.has(code)) {
      return gwError('GW_ERR_NOT_FOUND', `The ${thingOf(meta)} was not found`, { cause: err })
    }
    if (code.startsWith('P1') || UNAVAILABLE_CODES.has(code)) {
      return gwError('GW_ERR_UNAVAILABLE', 'The database is not available', { cause: err, headers: RETRY_AFTER })
    }
    return gwError('GW_ERR_INTERNAL', undefined, { cause: err })
  }
  if (err instanceof Prisma.PrismaClientInitializationError) {
    return gwError('GW_ERR_UNAVAILABLE', 'The database is not available', { cause: err, headers: RETRY_AFTER })
  }
  if (err instanceof Prisma.PrismaClientUnknownRequestError || err instanceof Prisma.PrismaClientRustPanicError ||
      err instanceof Prisma.PrismaClientValidationError) {
    return gwError('GW_ERR_INTERNAL', undefined, { cause: err })
  }
  // node-postgres used directly (migrations, pg-boss) and the sockets under it.
  const e = err as { code?: unknown, name?: unknown, message?: unknown } | null
  if (err instanceof Error && e?.code === undefined && DRIVER_UNAVAILABLE.has(err.message)) {
    return gwError('GW_ERR_UNAVAILABLE', 'The database did not answer in time', { cause: err, headers: RETRY_AFTER })
  }
  if (e !== null && typeof e === 'object' && typeof e.code === 'string') {
    if (e.name === 'DatabaseError' || /^[0-9A-Z]{5}$/.test(e.code)) {
      if (e.code === '23505') return gwError('GW_ERR_CONFLICT', 'The record already exists', { cause: err })
      if (PG_OUT_OF_RANGE.has(e.code)) return gwError('GW_ERR_VALIDATION', 'A date or number in the request is outside the range the gateway can store', { cause: err })
      if (PG_UNAVAILABLE.test(e.code)) return gwError('GW_ERR_UNAVAILABLE', 'The database is not available', { cause: err, headers: RETRY_AFTER })
    }
    if (NODE_UNAVAILABLE.has(e.code)) return gwError('GW_ERR_UNAVAILABLE', 'The database is not available', { cause: err, headers: RETRY_AFTER })
  }
  return undefined
}

/** `err` as a GatewayError when it is a database error, else unchanged: `catch (e) { throw mapDatabaseError(e) }`. */
export function mapDatabaseError (err: unknown): unknown {
  return databaseErrorToGatewayError(err) ?? err
}

/** True for a unique violation (P2002), e.g. to retry with another generated value. */
export function isUniqueViolation (err: unknown): boolean {
  return err instanceof Prisma.PrismaClientKnownRequestError && err.code === 'P2002'
}
