// The shape of an editing session (and its web-editor link), written once: REST validates and serializes it, OpenAPI publishes it,
// and the domain's view type is Static<> of it (see export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const SessionSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  title: Type.Union([Type.String(), Type.Null()]),
  language: Type.Union([Type.String(), Type.Null()]),
  upstreamSessionId: Type.String(),
  upstreamTaskId: Type.Union([Type.String(), Type.Null()]),
  resetCount: Type.Integer(),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'Session' })
export const WebLinkSchema = Type.Object({
  url: Type.String({ format: 'uri', description: 'https://nemovideo.com/workspace/claim?ct=<claim token>' }),
  expiresAt: DateTime
})

export type SessionView = Static<typeof SessionSchema>
export type WebLinkView = Static<typeof WebLinkSchema>
