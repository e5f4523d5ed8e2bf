// The shape of a session log event, written once: REST validates and serializes it, OpenAPI publishes it,
// and the domain's view type is Static<> of it (see export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const SessionEventSchema = Type.Object({
  cursor: Type.String({ pattern: '^\\d+$', description: 'Monotonic position in the session log' }),
  sessionId: Type.String(),
  turnId: Type.Union([Type.String(), Type.Null()]),
  type: Type.String({ description: 'turn.started, text, tool.started, tool.finished, heartbeat, question, notice, state.changed, session.reset, turn.recovering, turn.completed, turn.failed, upload.progress, upload.completed, ...' }),
  payload: Type.Unknown(),
  createdAt: DateTime
}, { $id: 'SessionEvent' })

export type SessionEventView = Static<typeof SessionEventSchema>
