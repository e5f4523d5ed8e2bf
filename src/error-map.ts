// Any thrown thing -> the one GatewayError a caller sees: Fastify's own errors (validation,
// body parsing, limits) by their codes, a plugin's 4xx kept as such, database errors through
// db/errors.ts, anything else a 500 whose detail never leaves. Below the plugins and the faces
// (REST answers with it in plugins/problems.ts, GraphQL in graphql/errors.ts), and apart from
// errors.ts, which db/errors.ts itself imports.
import type { FastifyError } from 'fastify'
import { databaseErrorToGatewayError } from './db/errors.ts'
import { gwError, isGatewayError, type GatewayError, type GwCode } from './errors.ts'

const fastifyCodes: Record<string, GwCode> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'GW_ERR_BAD_REQUEST',
  FST_ERR_CTP_BODY_TOO_LARGE: 'GW_ERR_PAYLOAD_TOO_LARGE',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'GW_ERR_BAD_REQUEST',
  FST_ERR_CTP_INVALID_JSON_BODY: 'GW_ERR_BAD_REQUEST',
  FST_ERR_CTP_EMPTY_TYPE: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_ERR_CTP_INVALID_TYPE: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_INVALID_MULTIPART_CONTENT_TYPE: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE',
  FST_REQ_FILE_TOO_LARGE: 'GW_ERR_PAYLOAD_TOO_LARGE',
  FST_FILES_LIMIT: 'GW_ERR_PAYLOAD_TOO_LARGE',
  FST_PARTS_LIMIT: 'GW_ERR_PAYLOAD_TOO_LARGE',
  FST_FIELDS_LIMIT: 'GW_ERR_PAYLOAD_TOO_LARGE',
  FST_PROTO_VIOLATION: 'GW_ERR_BAD_REQUEST',
  FST_ERR_VALIDATION: 'GW_ERR_VALIDATION'
}

/** Turns any thrown thing into a GatewayError. */
export function toGatewayError (err: unknown): GatewayError {
  if (isGatewayError(err)) return err
  const e = err as FastifyError & { validation?: Array<{ instancePath?: string, message?: string, params?: unknown }>, validationContext?: string }
  if (e?.validation) {
    const where = e.validationContext ?? 'request'
    return gwError('GW_ERR_VALIDATION', e.message, {
      extensions: {
        errors: e.validation.map(v => ({
          in: where,
          path: v.instancePath ?? '',
          message: v.message ?? 'is invalid',
          params: v.params
        }))
      }
    })
  }
  const mapped = e?.code ? fastifyCodes[e.code] : undefined
  if (mapped) return gwError(mapped, e.message, { cause: err })
  // a client error thrown by some plugin (e.g. 4xx from a dependency): keep the status
  if (typeof e?.statusCode === 'number' && e.statusCode >= 400 && e.statusCode < 500) {
    const code: GwCode = e.statusCode === 429 ? 'GW_ERR_RATE_LIMITED' : e.statusCode === 404 ? 'GW_ERR_NOT_FOUND' : 'GW_ERR_BAD_REQUEST'
    return gwError(code, e.message, { status: e.statusCode, cause: err })
  }
  return databaseErrorToGatewayError(err) ?? gwError('GW_ERR_INTERNAL', undefined, { cause: err })
}
