// Schemas shared by every route: the problem document, pagination, common headers.
import { Type, type TObject, type TSchema } from 'typebox'
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
export function withProblems<T extends Record<number, unknown>> (ok: T): T & Record<number, TSchema> {
  return { ...ok, 400: ProblemRef, 401: ProblemRef, 404: ProblemRef, 429: ProblemRef, 502: ProblemRef } as T & Record<number, TSchema>
}

export const TenantHeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Your own id for the end user (1-128 of A-Za-z0-9._:@-); required with an API key, absent with a client token (the user is the token\'s)' })),
  'idempotency-key': Type.Optional(IdempotencyKeyHeaderSchema)
})

/**
 * A query whose properties with a `default` may be left out: validation fills the default in,
 * so a handler always sees a value (the type says so) and the document says it is optional.
 */
export function defaulted<T extends TObject> (schema: T): T {
  const withDefault = new Set(Object.entries(schema.properties).filter(([, p]) => (p as { default?: unknown }).default !== undefined).map(([k]) => k))
  const required = (schema.required ?? []).filter((k: string) => !withDefault.has(k))
  const { required: _all, ...rest } = schema as T & { required?: string[] }
  return (required.length > 0 ? { ...rest, required } : rest) as unknown as T
}

export const PageLimitSchema = Type.Integer({ minimum: 1, maximum: PAGE_LIMIT.max, default: PAGE_LIMIT.default, description: `Items per page (default ${PAGE_LIMIT.default})` })

export const PageQuerySchema = defaulted(Type.Object({
  cursor: Type.Optional(PageCursorSchema),
  limit: PageLimitSchema
}))

/**
 * A text/event-stream answer, for the OpenAPI document: every event is `id: <cursor>`,
 * `event: <type>` and `data: <one SessionEvent as JSON>`; `x-event-data` names the schema of
 * the data (OpenAPI 3.1 has no item schema for a stream; 3.2's is `itemSchema`).
 */
export function eventStream (what: string): Record<string, unknown> {
  return {
    'text/event-stream': {
      schema: {
        type: 'string',
        description: `${what} Each event: \`id:\` (its cursor; a reconnect with Last-Event-ID resumes after it), \`event:\` (its type) and \`data:\` ` +
          '(the SessionEvent as JSON; the types and payloads are listed under SessionEvent). A `: keep-alive` comment comes while nothing happens; ' +
          'an `error` event (data `{"code", "detail"}`) tells of a broken stream (reconnect with Last-Event-ID), and a `retry:` line of a restarting gateway.'
      },
      'x-event-data': { $ref: '#/components/schemas/SessionEvent' },
      example: 'id: 41\nevent: turn.started\ndata: {"cursor":"41","sessionId":"6f1c2f0e-8a8e-4a57-9a51-3f1b0c2d9e11","turnId":"0b8e4a9c-3d2f-4e1a-9b7c-5d6e7f8a9b0c","type":"turn.started",' +
        '"payload":{"turnId":"0b8e4a9c-3d2f-4e1a-9b7c-5d6e7f8a9b0c","text":"add a title Urban Dreams"},"createdAt":"2026-12-06T10:00:00.000Z"}\n\n'
    }
  }
}

export const UuidParam = Type.String({ format: 'uuid' })

export { DateTime } from '../schemas/common.ts'
