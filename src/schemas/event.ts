// The shape of a session log event, written once. `SessionEventSchema` is the envelope the
// domain's view type is Static<> of (every event: a cursor, a type, a payload); the published
// shape, `SessionEventTypedSchema`, is one schema per event type, discriminated by `type`, so
// a generated client reads each payload without a cast. Payloads may gain fields (never lose
// them): each object allows more properties than it names.
import { Type, type Static, type TObject, type TProperties } from 'typebox'
import { DateTime } from './common.ts'

const envelope = {
  cursor: Type.String({ pattern: '^\\d+$', description: 'Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID)' }),
  sessionId: Type.String(),
  turnId: Type.Union([Type.String(), Type.Null()], { description: 'The turn that wrote it, for a turn\'s events' })
}

const SessionEventSchema = Type.Object({
  ...envelope,
  type: Type.String({ description: 'The event type: see SessionEvent for each type and its payload' }),
  payload: Type.Unknown(),
  createdAt: DateTime
})

export type SessionEventView = Static<typeof SessionEventSchema>

const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(s: T) => Type.Union([s, Type.Null()])
const TurnId = { turnId: Type.String({ format: 'uuid' }) }
const ExportId = { exportId: Type.String({ format: 'uuid' }) }
const UploadRef = { uploadRef: Type.String({ format: 'uuid', description: 'The upload request these files came in' }) }
const ApiCall = Type.Object({ method: Type.String(), path: Type.String() })

/** One event type: the envelope, `type` fixed to its name, and its payload. */
function event<P extends TProperties> (type: string, id: string, description: string, payload: P): TObject {
  return Type.Object({ ...SessionEventSchema.properties, type: Type.Literal(type), payload: Type.Object(payload, { additionalProperties: true }) }, { $id: id, title: type, description })
}

const ExportOutcome = {
  ...ExportId,
  sessionId: Type.String({ format: 'uuid' }),
  userId: Nullable(Type.String()),
  status: Type.String(),
  progress: Type.Integer(),
  downloadUrl: Nullable(Type.String()),
  error: Nullable(Type.Object({ reason: Type.String(), message: Type.String(), retryable: Type.Boolean() })),
  renderId: Nullable(Type.String()),
  attempts: Type.Integer(),
  createdAt: Type.String({ format: 'date-time' }),
  completedAt: Nullable(Type.String({ format: 'date-time' }))
}

const EVENTS = [
  event('turn.started', 'TurnStartedEvent', 'A turn began: its text as sent', { ...TurnId, text: Type.String() }),
  event('text', 'TextEvent', 'The agent\'s words. `actions`: what a GUI user would have clicked, as the API call to make instead', {
    ...TurnId,
    text: Type.String(),
    actions: Type.Optional(Type.Array(Type.Object({ phrase: Type.String(), action: Type.String(), hint: Type.String(), index: Type.Integer(), api: Type.Optional(ApiCall) }, { additionalProperties: true })))
  }),
  event('tool.started', 'ToolStartedEvent', 'The agent called a tool', { ...TurnId, name: Type.String(), id: Nullable(Type.String()), args: Type.Unknown() }),
  event('tool.finished', 'ToolFinishedEvent', 'A tool answered', { ...TurnId, name: Type.String(), id: Nullable(Type.String()), result: Type.Unknown() }),
  event('heartbeat', 'HeartbeatEvent', 'The upstream is still working (at most one per HEARTBEAT_EVENT_INTERVAL_MS)', { ...TurnId, at: Type.String({ format: 'date-time' }) }),
  event('question', 'QuestionEvent', 'The agent asks something: answer with the next turn', {
    ...TurnId, questions: Type.Unknown(), title: Nullable(Type.String()), id: Nullable(Type.String()), answerWith: Type.String()
  }),
  event('notice', 'NoticeEvent', 'Something to know that changes nothing, e.g. the upstream\'s trailing "temporary issue" after a normal answer', {
    ...TurnId, kind: Type.String(), text: Type.String(), ignorable: Type.Boolean(), why: Type.String()
  }),
  event('upstream.error', 'UpstreamErrorEvent', 'An error frame from the upstream\'s stream', { ...TurnId, message: Type.String(), code: Nullable(Type.Union([Type.String(), Type.Number()])) }),
  event('state.changed', 'StateChangedEvent', 'What a turn changed on the timeline, with a one-line summary (how edits that end without text are explained)', {
    ...TurnId,
    summary: Type.String({ description: 'e.g. Added title \'Urban Dreams\' 0-3 s' }),
    changes: Type.Array(Type.Unknown()),
    timeline: Type.String({ description: 'The timeline\'s summary line after the change' }),
    assetsAdded: Type.Unknown(),
    recovered: Type.Optional(Type.Boolean({ description: 'Found by a recovery poll (turn.recovering)' }))
  }),
  event('turn.recovering', 'TurnRecoveringEvent', 'The stream broke or only heartbeats came: the state is polled at firstWaitMs, then twice as long, ... and the turn fails after `polls` unchanged polls', {
    ...TurnId, reason: Type.String(), polls: Type.Integer(), firstWaitMs: Type.Integer()
  }),
  event('turn.completed', 'TurnCompletedEvent', 'The turn ended: completed (with a reply), silent (an edit without text) or timed_out', {
    ...TurnId, status: Type.String(), reply: Nullable(Type.String())
  }),
  event('turn.failed', 'TurnFailedEvent', 'The turn failed; `error.code` is a GW_ERR_* code (GW_ERR_CREDITS_EXHAUSTED carries the registration `hint`)', {
    ...TurnId, status: Type.String(), error: Type.Unknown()
  }),
  event('session.reset', 'SessionResetEvent', 'The upstream lost the session (code 1002): a new upstream session replaces it, the old state is kept', {
    reason: Type.String(), previousUpstreamSessionId: Type.String(), upstreamSessionId: Type.String(), snapshotKept: Type.Boolean()
  }),
  event('upload.progress', 'UploadProgressEvent', 'Bytes of one file received so far', {
    ...UploadRef, index: Type.Integer(), filename: Type.String(), bytes: Type.Integer(), done: Type.Boolean()
  }),
  event('upload.completed', 'UploadCompletedEvent', 'A file is with the upstream', {
    ...UploadRef, uploadId: Type.String({ format: 'uuid' }), filename: Type.String(), kind: Type.String(), size: Nullable(Type.Integer()), sha256: Nullable(Type.String()), cdnUrl: Nullable(Type.String())
  }),
  event('upload.failed', 'UploadFailedEvent', 'An upload stopped; `code` is the GW_ERR_* code its request was answered with', {
    ...UploadRef, code: Type.String(), callerAborted: Type.Boolean()
  }),
  event('export.started', 'ExportStartedEvent', 'The render was submitted', { ...ExportId, renderId: Type.String() }),
  event('export.progress', 'ExportProgressEvent', 'The render moved (one per poll at most); `retry` when a failed or lost render was submitted again', {
    ...ExportId,
    status: Type.String(),
    progress: Type.Integer({ minimum: 0, maximum: 100 }),
    attempt: Type.Optional(Type.Integer()),
    renderId: Type.Optional(Type.String()),
    retry: Type.Optional(Type.Object({ reason: Type.String(), message: Type.String() }))
  }),
  event('export.completed', 'ExportCompletedEvent', 'The MP4 is ready at downloadUrl (also sent as a webhook)', ExportOutcome),
  event('export.failed', 'ExportFailedEvent', 'The export failed after its retry (also sent as a webhook)', ExportOutcome),
  event('export.cancelled', 'ExportCancelledEvent', 'The export was cancelled (also sent as a webhook)', ExportOutcome),
  event('export.archived', 'ExportArchivedEvent', 'The gateway holds its own copy of the MP4: downloads are served from it', {
    ...ExportId, storage: Type.String(), size: Nullable(Type.Integer()), sha256: Nullable(Type.String())
  })
]

/** The event types, as the log and the streams name them. */
const SESSION_EVENT_TYPES = EVENTS.map((e) => (e.properties as { type: { const: string } }).type.const)

/** Each event type's schema, shared (addSchema) so the document names each one. */
export const SESSION_EVENT_SCHEMAS = EVENTS

export const SessionEventTypedSchema = Type.Unsafe<unknown>({
  oneOf: EVENTS.map((e) => ({ $ref: `${String((e as { $id?: string }).$id)}#` })),
  $id: 'SessionEvent',
  description: 'One entry of a session\'s log, by `type`: ' + SESSION_EVENT_TYPES.join(', '),
  discriminator: { propertyName: 'type', mapping: Object.fromEntries(EVENTS.map((e) => [(e.properties as { type: { const: string } }).type.const, `#/components/schemas/${String((e as { $id?: string }).$id)}`])) }
})
