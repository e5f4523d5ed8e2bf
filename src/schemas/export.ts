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
  error: Type.Union([ExportErrorSchema, Type.Null()]),
  createdAt: DateTime,
  startedAt: Type.Union([DateTime, Type.Null()]),
  completedAt: Type.Union([DateTime, Type.Null()]),
  updatedAt: DateTime
}, { $id: 'Export' })
export type ExportView = Static<typeof ExportSchema>
