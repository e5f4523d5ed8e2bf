// Schemas shared by every route: the problem document, pagination, common headers.
import { Type, type TSchema } from 'typebox'
import { IdempotencyKeyHeaderSchema, PAGE_LIMIT, PageCursorSchema } from '../inputs.ts'

export const ProblemSchema = Type.Object({
  type: Type.String(),
  title: Type.String(),
  status: Type.Integer(),
  detail: Type.String(),
  code: Type.String({ pattern: '^GW_ERR_' }),
  instance: Type.String()
}, { additionalProperties: true, $id: 'Problem', description: 'RFC 9457 problem details' })

const ProblemRef = Type.Unsafe<unknown>({ $ref: 'Problem#' })

/** Error responses every tenant route can give, for the OpenAPI document. */
export function withProblems<T extends Record<number, TSchema>> (ok: T): T & Record<number, TSchema> {
  return { ...ok, 400: ProblemRef, 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 502: ProblemRef } as T & Record<number, TSchema>
}

export const TenantHeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Your own id for the end user (1-128 of A-Za-z0-9._:@-); required with an API key, absent with a client token (the user is the token\'s)' })),
  'idempotency-key': Type.Optional(IdempotencyKeyHeaderSchema)
})

export const PageQuerySchema = Type.Object({
  cursor: Type.Optional(PageCursorSchema),
  limit: Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default })
})

export const UuidParam = Type.String({ format: 'uuid' })

export { DateTime } from '../schemas/common.ts'
