// The shape of a chat turn, written once: REST validates and serializes it, OpenAPI publishes it,
// and the domain's view type is Static<> of it (see export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

const TurnStatusSchema = Type.Union([
  Type.Literal('running'), Type.Literal('completed'), Type.Literal('silent'), Type.Literal('timed_out'), Type.Literal('failed')
])

export const TurnSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  sessionId: Type.String({ format: 'uuid' }),
  text: Type.String(),
  status: TurnStatusSchema,
  reply: Type.Union([Type.String(), Type.Null()]),
  error: Type.Unknown(),
  startedAt: DateTime,
  finishedAt: Type.Union([DateTime, Type.Null()])
}, { $id: 'Turn' })

export type TurnView = Static<typeof TurnSchema>
