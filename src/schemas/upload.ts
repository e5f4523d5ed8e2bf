// The shape of an upload, written once: REST validates and serializes it, OpenAPI publishes it,
// and the domain's view type is Static<> of it (see export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const UploadSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sessionId: Type.String({ format: 'uuid' }),
  name: Type.String(),
  kind: Type.String({ description: 'video, image or audio' }),
  mimeType: Type.Union([Type.String(), Type.Null()]),
  size: Type.Union([Type.Integer(), Type.Null()], { description: 'Bytes received; null for URL uploads' }),
  sha256: Type.Union([Type.String(), Type.Null()], { description: 'Hex digest computed while streaming; null for URL uploads' }),
  sourceUrl: Type.Union([Type.String(), Type.Null()]),
  cdnUrl: Type.Union([Type.String(), Type.Null()]),
  duration: Type.Union([Type.Number(), Type.Null()]),
  width: Type.Union([Type.Integer(), Type.Null()]),
  height: Type.Union([Type.Integer(), Type.Null()]),
  fps: Type.Union([Type.Number(), Type.Null()]),
  createdAt: DateTime
}, { $id: 'Upload' })

export type UploadView = Static<typeof UploadSchema>
