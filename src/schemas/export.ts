// One shape per resource, written once: the TypeBox schema is what REST validates and
// serializes and what OpenAPI publishes, and the domain's view type is derived from it
// (Static<>), so the two cannot drift. (GraphQL's SDL, schema/schema.graphql, is SDL-first and
// checked against the same views by its tests.)
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const ExportStatusSchema = Type.Union([
  Type.Literal('queued'), Type.Literal('rendering'), Type.Literal('completed'), Type.Literal('failed'), Type.Literal('cancelled')
])
export type ExportStatus = Static<typeof ExportStatusSchema>

const ExportErrorSchema = Type.Object({
  reason: Type.String({ description: 'render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed' }),
  message: Type.String(),
  retryable: Type.Boolean({ description: 'Whether starting the export again may help' })
})
export type ExportError = Static<typeof ExportErrorSchema>

const ExportArchiveSchema = Type.Object({
  state: Type.Union([Type.Literal('pending'), Type.Literal('archived'), Type.Literal('failed'), Type.Literal('expired'), Type.Literal('off')], {
    description: 'pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway\'s copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed'
  }),
  storage: Type.Union([Type.Literal('local'), Type.Literal('s3'), Type.Null()], { description: 'Where the archived copy lives' }),
  size: Type.Union([Type.Integer({ minimum: 0 }), Type.Null()], { description: 'Bytes of the archived copy' }),
  sha256: Type.Union([Type.String({ pattern: '^[0-9a-f]{64}$' }), Type.Null()], { description: 'SHA-256 of the archived copy, hex; also its download ETag' }),
  archivedAt: Type.Union([DateTime, Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()], { description: 'Why the copy failed' })
})
export type ExportArchive = Static<typeof ExportArchiveSchema>

export const ExportSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sessionId: Type.String({ format: 'uuid' }),
  status: ExportStatusSchema,
  progress: Type.Integer({ minimum: 0, maximum: 100 }),
  format: Type.String(),
  quality: Type.String(),
  resolution: Type.Union([Type.String(), Type.Null()]),
  timelineNote: Type.Union([Type.String(), Type.Null()], { description: 'Set when the export rendered the timeline as it was while a chat turn was still running: that turn\'s edits are not in this render' }),
  renderId: Type.Union([Type.String(), Type.Null()]),
  attempts: Type.Integer({ description: 'Renders submitted: a failed or lost render is retried once with a new render id' }),
  downloadUrl: Type.Union([Type.String(), Type.Null()], { description: 'The gateway URL of the MP4, once completed' }),
  archive: Type.Union([ExportArchiveSchema, Type.Null()], { description: 'The gateway\'s own copy of the MP4, once completed' }),
  error: Type.Union([ExportErrorSchema, Type.Null()]),
  createdAt: DateTime,
  startedAt: Type.Union([DateTime, Type.Null()]),
  completedAt: Type.Union([DateTime, Type.Null()]),
  nextPollAt: Type.Union([DateTime, Type.Null()], {
    description: 'When the gateway next asks the upstream for the render\'s progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended'
  }),
  updatedAt: DateTime
}, { $id: 'Export' })
export type ExportView = Static<typeof ExportSchema>
