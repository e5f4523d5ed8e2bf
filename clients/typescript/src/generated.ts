// Generated from openapi/openapi.json by clients/typescript/scripts/generate.ts. Do not edit:
// run `npm run client:generate` at the repository root (a test fails when this file drifts).
/* eslint-disable */

// ---- Schemas (components.schemas) ----

/** RFC 9457 problem details */
export type Problem = {
  type: string
  title: string
  status: number
  detail: string
  code: string
  instance: string
  [key: string]: unknown
}

/** A turn began: its text as sent */
export type TurnStartedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "turn.started"
  payload: {
    turnId: string
    text: string
    [key: string]: unknown
  }
  createdAt: string
}

/** The agent's words. `actions`: what a GUI user would have clicked, as the API call to make instead */
export type TextEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "text"
  payload: {
    turnId: string
    text: string
    actions?: Array<{
      phrase: string
      action: string
      hint: string
      index: number
      api?: {
        method: string
        path: string
      }
      [key: string]: unknown
    }>
    [key: string]: unknown
  }
  createdAt: string
}

/** The agent called a tool */
export type ToolStartedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "tool.started"
  payload: {
    turnId: string
    name: string
    id: string | null
    args: unknown
    [key: string]: unknown
  }
  createdAt: string
}

/** A tool answered */
export type ToolFinishedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "tool.finished"
  payload: {
    turnId: string
    name: string
    id: string | null
    result: unknown
    [key: string]: unknown
  }
  createdAt: string
}

/** The upstream is still working (at most one per HEARTBEAT_EVENT_INTERVAL_MS) */
export type HeartbeatEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "heartbeat"
  payload: {
    turnId: string
    at: string
    [key: string]: unknown
  }
  createdAt: string
}

/** The agent asks something: answer with the next turn */
export type QuestionEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "question"
  payload: {
    turnId: string
    questions: unknown
    title: string | null
    id: string | null
    answerWith: string
    [key: string]: unknown
  }
  createdAt: string
}

/** Something to know that changes nothing, e.g. the upstream's trailing "temporary issue" after a normal answer */
export type NoticeEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "notice"
  payload: {
    turnId: string
    kind: string
    text: string
    ignorable: boolean
    why: string
    [key: string]: unknown
  }
  createdAt: string
}

/** An error frame from the upstream's stream */
export type UpstreamErrorEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "upstream.error"
  payload: {
    turnId: string
    message: string
    code: string | number | null
    [key: string]: unknown
  }
  createdAt: string
}

/** What a turn changed on the timeline, with a one-line summary (how edits that end without text are explained) */
export type StateChangedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "state.changed"
  payload: {
    turnId: string
    /** e.g. Added title 'Urban Dreams' 0-3 s */
    summary: string
    changes: unknown[]
    /** The timeline's summary line after the change */
    timeline: string
    assetsAdded: unknown
    /** Found by a recovery poll (turn.recovering) */
    recovered?: boolean
    [key: string]: unknown
  }
  createdAt: string
}

/** The stream broke or only heartbeats came: the state is polled at firstWaitMs, then twice as long, ... and the turn fails after `polls` unchanged polls */
export type TurnRecoveringEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "turn.recovering"
  payload: {
    turnId: string
    reason: string
    polls: number
    firstWaitMs: number
    [key: string]: unknown
  }
  createdAt: string
}

/** The turn ended: completed (with a reply), silent (an edit without text) or timed_out */
export type TurnCompletedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "turn.completed"
  payload: {
    turnId: string
    status: string
    reply: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** The turn failed; `error.code` is a GW_ERR_* code (GW_ERR_CREDITS_EXHAUSTED carries the registration `hint`) */
export type TurnFailedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "turn.failed"
  payload: {
    turnId: string
    status: string
    error: unknown
    [key: string]: unknown
  }
  createdAt: string
}

/** The upstream lost the session (code 1002): a new upstream session replaces it, the old state is kept */
export type SessionResetEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "session.reset"
  payload: {
    reason: string
    previousUpstreamSessionId: string
    upstreamSessionId: string
    snapshotKept: boolean
    [key: string]: unknown
  }
  createdAt: string
}

/** Bytes of one file received so far */
export type UploadProgressEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "upload.progress"
  payload: {
    /** The upload request these files came in */
    uploadRef: string
    index: number
    filename: string
    bytes: number
    done: boolean
    [key: string]: unknown
  }
  createdAt: string
}

/** A file is with the upstream */
export type UploadCompletedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "upload.completed"
  payload: {
    /** The upload request these files came in */
    uploadRef: string
    uploadId: string
    filename: string
    kind: string
    size: number | null
    sha256: string | null
    cdnUrl: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** An upload stopped; `code` is the GW_ERR_* code its request was answered with */
export type UploadFailedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "upload.failed"
  payload: {
    /** The upload request these files came in */
    uploadRef: string
    code: string
    callerAborted: boolean
    [key: string]: unknown
  }
  createdAt: string
}

/** The render was submitted */
export type ExportStartedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.started"
  payload: {
    exportId: string
    renderId: string
    [key: string]: unknown
  }
  createdAt: string
}

/** The render moved (one per poll at most); `retry` when a failed or lost render was submitted again */
export type ExportProgressEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.progress"
  payload: {
    exportId: string
    status: string
    progress: number
    attempt?: number
    renderId?: string
    retry?: {
      reason: string
      message: string
    }
    [key: string]: unknown
  }
  createdAt: string
}

/** The MP4 is ready at downloadUrl (also sent as a webhook) */
export type ExportCompletedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.completed"
  payload: {
    exportId: string
    sessionId: string
    userId: string | null
    status: string
    progress: number
    downloadUrl: string | null
    error: ({
      reason: string
      message: string
      retryable: boolean
    }) | null
    renderId: string | null
    attempts: number
    createdAt: string
    completedAt: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** The export failed after its retry (also sent as a webhook) */
export type ExportFailedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.failed"
  payload: {
    exportId: string
    sessionId: string
    userId: string | null
    status: string
    progress: number
    downloadUrl: string | null
    error: ({
      reason: string
      message: string
      retryable: boolean
    }) | null
    renderId: string | null
    attempts: number
    createdAt: string
    completedAt: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** The export was cancelled (also sent as a webhook) */
export type ExportCancelledEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.cancelled"
  payload: {
    exportId: string
    sessionId: string
    userId: string | null
    status: string
    progress: number
    downloadUrl: string | null
    error: ({
      reason: string
      message: string
      retryable: boolean
    }) | null
    renderId: string | null
    attempts: number
    createdAt: string
    completedAt: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** The gateway holds its own copy of the MP4: downloads are served from it */
export type ExportArchivedEvent = {
  /** Monotonic position in the session log (the SSE `id:`; resume after it with ?after= or Last-Event-ID) */
  cursor: string
  sessionId: string
  /** The turn that wrote it, for a turn's events */
  turnId: string | null
  type: "export.archived"
  payload: {
    exportId: string
    storage: string
    size: number | null
    sha256: string | null
    [key: string]: unknown
  }
  createdAt: string
}

/** One entry of a session's log, by `type`: turn.started, text, tool.started, tool.finished, heartbeat, question, notice, upstream.error, state.changed, turn.recovering, turn.completed, turn.failed, session.reset, upload.progress, upload.completed, upload.failed, export.started, export.progress, export.completed, export.failed, export.cancelled, export.archived */
export type SessionEvent = TurnStartedEvent | TextEvent | ToolStartedEvent | ToolFinishedEvent | HeartbeatEvent | QuestionEvent | NoticeEvent | UpstreamErrorEvent | StateChangedEvent | TurnRecoveringEvent | TurnCompletedEvent | TurnFailedEvent | SessionResetEvent | UploadProgressEvent | UploadCompletedEvent | UploadFailedEvent | ExportStartedEvent | ExportProgressEvent | ExportCompletedEvent | ExportFailedEvent | ExportCancelledEvent | ExportArchivedEvent

/** An export was started (202) */
export type SayExport = {
  action: "export"
  /** One line for a person: what was done and what to do next */
  message: string
  exportable: boolean
  summary: string
  export: {
    id: string
    sessionId: string
    status: "queued" | "rendering" | "completed" | "failed" | "cancelled"
    progress: number
    format: string
    quality: string
    resolution: string | null
    /** Set when the export rendered the timeline as it was while a chat turn was still running: that turn's edits are not in this render */
    timelineNote: string | null
    renderId: string | null
    /** Renders submitted: a failed or lost render is retried once with a new render id */
    attempts: number
    /** The gateway URL of the MP4, once completed */
    downloadUrl: string | null
    /** The gateway's own copy of the MP4, once completed */
    archive: ({
      /** pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway's copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed */
      state: "pending" | "archived" | "failed" | "expired" | "off"
      /** Where the archived copy lives */
      storage: "local" | "s3" | null
      /** Bytes of the archived copy */
      size: number | null
      /** SHA-256 of the archived copy, hex; also its download ETag */
      sha256: string | null
      archivedAt: string | null
      /** Why the copy failed */
      error: string | null
    }) | null
    error: ({
      /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
      reason: string
      message: string
      /** Whether starting the export again may help */
      retryable: boolean
    }) | null
    createdAt: string
    startedAt: string | null
    completedAt: string | null
    /** When the gateway next asks the upstream for the render's progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended */
    nextPollAt: string | null
    updatedAt: string
  }
}

/** The user's credits */
export type SayCredits = {
  action: "credits"
  /** One line for a person: what was done and what to do next */
  message: string
  credits: {
    available: number
    frozen: number
    total: number
    tokenMode: "anonymous" | "registered"
    /** The user's upstream token. "none yet": reads never mint one; the first action does, and the balance shown is what that mint grants */
    token: "none yet" | "active" | "expiring" | "expired" | "exhausted" | "rate_limited" | "revoked"
    /** With nothing available: the registration link (anonymous users) or top-up advice */
    hint: string | null
    budget: {
      limit: number | null
      spent: number
      remaining: number | null
      exceeded: boolean
    }
    cachedAt: string
  }
}

/** The timeline and its summary */
export type SayState = {
  action: "state"
  /** One line for a person: what was done and what to do next */
  message: string
  state: {
    sessionId: string
    /** e.g. Timeline (3 tracks): 1. Video: clip1 (0-10s) 2. BGM: bgm (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s) */
    summary: string
    exportable: boolean
    timeline: {
      tracks: Array<{
        index: number
        kind: "video" | "audio" | "text" | "other"
        segments: Array<{
          startMs?: number
          durationMs?: number
          label?: string
          volume?: number
          src?: string
          text?: string
          raw: {
            [key: string]: unknown
          }
        }>
      }>
      durationMs: number
      title?: string
      width?: number
      height?: number
    }
    canvas: ({
      [key: string]: unknown
    }) | null
    assets: unknown[]
    generatedMedia: unknown[]
  }
}

/** How to upload files */
export type SayUpload = {
  action: "upload"
  /** One line for a person: what was done and what to do next */
  message: string
  upload: {
    method: "POST"
    path: string
    accepted: string
    maxBytes: number
  }
}

/** A chat turn was started: follow the session's events */
export type SayChat = {
  action: "chat"
  /** One line for a person: what was done and what to do next */
  message: string
  turn: {
    id: string
    sessionId: string
    text: string
    status: "running" | "completed" | "silent" | "timed_out" | "failed"
    reply: string | null
    error: unknown
    startedAt: string
    finishedAt: string | null
  }
}

/** What a sentence did, by `action` */
export type SayResult = SayExport | SayCredits | SayState | SayUpload | SayChat

export type Session = {
  id: string
  title: string | null
  language: string | null
  upstreamSessionId: string
  upstreamTaskId: string | null
  resetCount: number
  createdAt: string
  updatedAt: string
}

export type Turn = {
  id: string
  sessionId: string
  text: string
  status: "running" | "completed" | "silent" | "timed_out" | "failed"
  reply: string | null
  error: unknown
  startedAt: string
  finishedAt: string | null
}

export type Upload = {
  id: string
  sessionId: string
  name: string
  /** video, image or audio */
  kind: string
  mimeType: string | null
  /** Bytes received; null for URL uploads */
  size: number | null
  /** Hex digest computed while streaming; null for URL uploads */
  sha256: string | null
  sourceUrl: string | null
  cdnUrl: string | null
  duration: number | null
  width: number | null
  height: number | null
  fps: number | null
  createdAt: string
}

export type Export = {
  id: string
  sessionId: string
  status: "queued" | "rendering" | "completed" | "failed" | "cancelled"
  progress: number
  format: string
  quality: string
  resolution: string | null
  /** Set when the export rendered the timeline as it was while a chat turn was still running: that turn's edits are not in this render */
  timelineNote: string | null
  renderId: string | null
  /** Renders submitted: a failed or lost render is retried once with a new render id */
  attempts: number
  /** The gateway URL of the MP4, once completed */
  downloadUrl: string | null
  /** The gateway's own copy of the MP4, once completed */
  archive: ({
    /** pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway's copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed */
    state: "pending" | "archived" | "failed" | "expired" | "off"
    /** Where the archived copy lives */
    storage: "local" | "s3" | null
    /** Bytes of the archived copy */
    size: number | null
    /** SHA-256 of the archived copy, hex; also its download ETag */
    sha256: string | null
    archivedAt: string | null
    /** Why the copy failed */
    error: string | null
  }) | null
  error: ({
    /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
    reason: string
    message: string
    /** Whether starting the export again may help */
    retryable: boolean
  }) | null
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  /** When the gateway next asks the upstream for the render's progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended */
  nextPollAt: string | null
  updatedAt: string
}

export type WebhookEndpoint = {
  id: string
  url: string
  description: string | null
  /** Event types sent here; empty means all */
  events: string[]
  enabled: boolean
  disabledReason: string | null
  disabledAt: string | null
  failingSince: string | null
  createdAt: string
  updatedAt: string
}

export type WebhookMessage = {
  id: string
  /** The webhook-id header: stable across retries */
  webhookId: string
  endpointId: string
  eventType: string
  payload: unknown
  status: "pending" | "delivered" | "failed"
  attempts: number
  nextAttemptAt: string | null
  deliveredAt: string | null
  createdAt: string
}

export type WebhookAttempt = {
  id: string
  /** scheduled or replay */
  trigger: string
  statusCode: number | null
  /** The first 1 KiB of the answer */
  responseBody: string | null
  latencyMs: number | null
  error: string | null
  nextAttemptAt: string | null
  createdAt: string
}

export type Tenant = {
  id: string
  name: string
  tokenMode: "anonymous" | "registered"
  creditBudget: number | null
  creditsSpent: number
  /** Browser origins whose pages may call the gateway with this tenant's client tokens */
  allowedOrigins: string[]
  createdAt: string
}

export type ApiKey = {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
  rotatedToId: string | null
}

export type TokenIssuer = {
  id: string
  tenantId: string
  issuer: string
  jwksUrl: string
  audience: string
  userClaim: string
  scopeClaim: string | null
  createdAt: string
}

export type Credential = {
  id: string
  tenantId: string
  userId: string | null
  kind: "anonymous" | "registered"
  label: string | null
  state: string
  stateReason: string | null
  upstreamUserId: string | null
  expiresAt: string | null
  retryAfter: string | null
  createdAt: string
  sessions?: number
}

export type IssuedKey = {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  /** The full API key. Shown once: store it now. */
  key: string
  expiresAt: string | null
  createdAt: string
}

// ---- Operations ----

export type CheckLivenessInput = Record<string, never>

export type CheckLivenessResponse = {
  status: "ok" | "unavailable"
  checks?: {
    [key: string]: string
  }
}

export type CheckReadinessInput = Record<string, never>

export type CheckReadinessResponse = {
  status: "ok" | "unavailable"
  checks?: {
    [key: string]: string
  }
}

export type ListSessionsInput = {
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListSessionsResponse = {
  items: Session[]
  nextCursor: string | null
}

export type CreateSessionInput = {
  body?: {
    /** A language tag such as en or zh-CN */
    language?: string
    title?: string
  }
}

export type CreateSessionResponse = {
  id: string
  title: string | null
  language: string | null
  upstreamSessionId: string
  upstreamTaskId: string | null
  resetCount: number
  createdAt: string
  updatedAt: string
}

export type GetSessionInput = {
  sessionId: string
}

export type GetSessionResponse = {
  id: string
  title: string | null
  language: string | null
  upstreamSessionId: string
  upstreamTaskId: string | null
  resetCount: number
  createdAt: string
  updatedAt: string
}

export type GetSessionWebLinkInput = {
  sessionId: string
}

export type GetSessionWebLinkResponse = {
  /** https://nemovideo.com/workspace/claim?ct=<claim token> */
  url: string
  expiresAt: string
}

export type GetCreditsInput = Record<string, never>

export type GetCreditsResponse = {
  available: number
  frozen: number
  total: number
  tokenMode: "anonymous" | "registered"
  /** The user's upstream token. "none yet": reads never mint one; the first action does, and the balance shown is what that mint grants */
  token: "none yet" | "active" | "expiring" | "expired" | "exhausted" | "rate_limited" | "revoked"
  /** With nothing available: the registration link (anonymous users) or top-up advice */
  hint: string | null
  budget: {
    limit: number | null
    spent: number
    remaining: number | null
    exceeded: boolean
  }
  cachedAt: string
}

export type ListTurnsInput = {
  sessionId: string
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListTurnsResponse = {
  items: Turn[]
  nextCursor: string | null
}

export type StartTurnInput = {
  sessionId: string
  body: {
    text: string
  }
}

export type StartTurnResponse = {
  id: string
  sessionId: string
  text: string
  status: "running" | "completed" | "silent" | "timed_out" | "failed"
  reply: string | null
  error: unknown
  startedAt: string
  finishedAt: string | null
}

export type GetTurnInput = {
  sessionId: string
  turnId: string
}

export type GetTurnResponse = {
  id: string
  sessionId: string
  text: string
  status: "running" | "completed" | "silent" | "timed_out" | "failed"
  reply: string | null
  error: unknown
  startedAt: string
  finishedAt: string | null
}

export type ListSessionEventsInput = {
  sessionId: string
  after?: string
  /** Events per page (default 100) */
  limit?: number
}

export type ListSessionEventsResponse = {
  items: SessionEvent[]
  nextCursor: string | null
}

export type GetSessionStateInput = {
  sessionId: string
}

export type GetSessionStateResponse = {
  sessionId: string
  /** e.g. Timeline (3 tracks): 1. Video: clip1 (0-10s) 2. BGM: bgm (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s) */
  summary: string
  exportable: boolean
  timeline: {
    tracks: Array<{
      index: number
      kind: "video" | "audio" | "text" | "other"
      segments: Array<{
        startMs?: number
        durationMs?: number
        label?: string
        volume?: number
        src?: string
        text?: string
        raw: {
          [key: string]: unknown
        }
      }>
    }>
    durationMs: number
    title?: string
    width?: number
    height?: number
  }
  canvas: ({
    [key: string]: unknown
  }) | null
  assets: unknown[]
  generatedMedia: unknown[]
}

export type SayInput = {
  sessionId: string
  body: {
    text: string
  }
}

export type SayResponse = SayResult

export type ListUploadsInput = {
  sessionId: string
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListUploadsResponse = {
  items: Upload[]
  nextCursor: string | null
}

export type UploadFilesInput = {
  sessionId: string
  body: {
    urls: string[]
  } | FormData
}

export type UploadFilesResponse = {
  uploadRef: string
  items: Upload[]
}

export type ListSessionExportsInput = {
  sessionId: string
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListSessionExportsResponse = {
  items: Export[]
  nextCursor: string | null
}

export type StartExportInput = {
  sessionId: string
  body?: {
    format?: "mp4"
    quality?: "high" | "medium" | "low"
    /** e.g. 1080p, 720p or 1920x1080 */
    resolution?: string
  }
}

export type StartExportResponse = {
  id: string
  sessionId: string
  status: "queued" | "rendering" | "completed" | "failed" | "cancelled"
  progress: number
  format: string
  quality: string
  resolution: string | null
  /** Set when the export rendered the timeline as it was while a chat turn was still running: that turn's edits are not in this render */
  timelineNote: string | null
  renderId: string | null
  /** Renders submitted: a failed or lost render is retried once with a new render id */
  attempts: number
  /** The gateway URL of the MP4, once completed */
  downloadUrl: string | null
  /** The gateway's own copy of the MP4, once completed */
  archive: ({
    /** pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway's copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed */
    state: "pending" | "archived" | "failed" | "expired" | "off"
    /** Where the archived copy lives */
    storage: "local" | "s3" | null
    /** Bytes of the archived copy */
    size: number | null
    /** SHA-256 of the archived copy, hex; also its download ETag */
    sha256: string | null
    archivedAt: string | null
    /** Why the copy failed */
    error: string | null
  }) | null
  error: ({
    /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
    reason: string
    message: string
    /** Whether starting the export again may help */
    retryable: boolean
  }) | null
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  /** When the gateway next asks the upstream for the render's progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended */
  nextPollAt: string | null
  updatedAt: string
}

export type ListExportsInput = {
  sessionId?: string
  status?: "queued" | "rendering" | "completed" | "failed" | "cancelled"
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListExportsResponse = {
  items: Export[]
  nextCursor: string | null
}

export type GetExportInput = {
  exportId: string
}

export type GetExportResponse = {
  id: string
  sessionId: string
  status: "queued" | "rendering" | "completed" | "failed" | "cancelled"
  progress: number
  format: string
  quality: string
  resolution: string | null
  /** Set when the export rendered the timeline as it was while a chat turn was still running: that turn's edits are not in this render */
  timelineNote: string | null
  renderId: string | null
  /** Renders submitted: a failed or lost render is retried once with a new render id */
  attempts: number
  /** The gateway URL of the MP4, once completed */
  downloadUrl: string | null
  /** The gateway's own copy of the MP4, once completed */
  archive: ({
    /** pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway's copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed */
    state: "pending" | "archived" | "failed" | "expired" | "off"
    /** Where the archived copy lives */
    storage: "local" | "s3" | null
    /** Bytes of the archived copy */
    size: number | null
    /** SHA-256 of the archived copy, hex; also its download ETag */
    sha256: string | null
    archivedAt: string | null
    /** Why the copy failed */
    error: string | null
  }) | null
  error: ({
    /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
    reason: string
    message: string
    /** Whether starting the export again may help */
    retryable: boolean
  }) | null
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  /** When the gateway next asks the upstream for the render's progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended */
  nextPollAt: string | null
  updatedAt: string
}

export type CancelExportInput = {
  exportId: string
}

export type CancelExportResponse = {
  id: string
  sessionId: string
  status: "queued" | "rendering" | "completed" | "failed" | "cancelled"
  progress: number
  format: string
  quality: string
  resolution: string | null
  /** Set when the export rendered the timeline as it was while a chat turn was still running: that turn's edits are not in this render */
  timelineNote: string | null
  renderId: string | null
  /** Renders submitted: a failed or lost render is retried once with a new render id */
  attempts: number
  /** The gateway URL of the MP4, once completed */
  downloadUrl: string | null
  /** The gateway's own copy of the MP4, once completed */
  archive: ({
    /** pending: the gateway is copying the file (downloads stream from the upstream meanwhile); archived: downloads are served from the gateway's copy; failed: the copy could not be made (downloads stream from the upstream while it keeps the file); expired: deleted after OUTPUT_RETENTION_DAYS; off: archiving was off when the export completed */
    state: "pending" | "archived" | "failed" | "expired" | "off"
    /** Where the archived copy lives */
    storage: "local" | "s3" | null
    /** Bytes of the archived copy */
    size: number | null
    /** SHA-256 of the archived copy, hex; also its download ETag */
    sha256: string | null
    archivedAt: string | null
    /** Why the copy failed */
    error: string | null
  }) | null
  error: ({
    /** render_failed, lost, deadline, interrupted, upstream_auth, credits_exhausted, submit_failed */
    reason: string
    message: string
    /** Whether starting the export again may help */
    retryable: boolean
  }) | null
  createdAt: string
  startedAt: string | null
  completedAt: string | null
  /** When the gateway next asks the upstream for the render's progress (the first time EXPORT_POLL_INITIAL_MS after the submit, 30 s by default): progress does not move before then. Null once the export has ended */
  nextPollAt: string | null
  updatedAt: string
}

export type DownloadExportInput = {
  exportId: string
  redirect?: boolean
  /** The `range` header */
  range?: string
}

export type DownloadExportResponse = Response

export type ListWebhookEndpointsInput = {
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListWebhookEndpointsResponse = {
  items: WebhookEndpoint[]
  nextCursor: string | null
}

export type CreateWebhookEndpointInput = {
  body: {
    /** http(s) URL of the receiver */
    url: string
    events?: Array<"export.completed" | "export.failed" | "export.cancelled">
    description?: string
  }
}

export type CreateWebhookEndpointResponse = {
  id: string
  url: string
  description: string | null
  /** Event types sent here; empty means all */
  events: string[]
  enabled: boolean
  disabledReason: string | null
  disabledAt: string | null
  failingSince: string | null
  createdAt: string
  updatedAt: string
  /** whsec_...: shown once; verify signatures with it. A retry with the same Idempotency-Key (24 h) shows it again while it still signs, else null with secretHint */
  secret: string | null
  /** Only on a retry whose secret no longer signs: how to get a new one */
  secretHint?: string
}

export type GetWebhookEndpointInput = {
  endpointId: string
}

export type GetWebhookEndpointResponse = {
  id: string
  url: string
  description: string | null
  /** Event types sent here; empty means all */
  events: string[]
  enabled: boolean
  disabledReason: string | null
  disabledAt: string | null
  failingSince: string | null
  createdAt: string
  updatedAt: string
}

export type UpdateWebhookEndpointInput = {
  endpointId: string
  body?: {
    /** http(s) URL of the receiver */
    url?: string
    events?: Array<"export.completed" | "export.failed" | "export.cancelled">
    description?: string
    enabled?: boolean
  }
}

export type UpdateWebhookEndpointResponse = {
  id: string
  url: string
  description: string | null
  /** Event types sent here; empty means all */
  events: string[]
  enabled: boolean
  disabledReason: string | null
  disabledAt: string | null
  failingSince: string | null
  createdAt: string
  updatedAt: string
}

export type DeleteWebhookEndpointInput = {
  endpointId: string
}

export type DeleteWebhookEndpointResponse = void

export type RotateWebhookSecretInput = {
  endpointId: string
  body?: {
    overlapSeconds?: number
  }
}

export type RotateWebhookSecretResponse = {
  id: string
  url: string
  description: string | null
  /** Event types sent here; empty means all */
  events: string[]
  enabled: boolean
  disabledReason: string | null
  disabledAt: string | null
  failingSince: string | null
  createdAt: string
  updatedAt: string
  /** whsec_...: shown once; verify signatures with it */
  secret: string
  previousSecretExpiresAt: string
}

export type ListWebhookMessagesInput = {
  endpointId: string
  status?: "pending" | "delivered" | "failed"
  cursor?: string
  /** Items per page (default 20) */
  limit?: number
}

export type ListWebhookMessagesResponse = {
  items: WebhookMessage[]
  nextCursor: string | null
}

export type RecoverWebhookMessagesInput = {
  endpointId: string
  body: {
    /** RFC 3339 date-time, years 0001-9999, e.g. 2026-05-01T00:00:00Z */
    since: string
    /** RFC 3339 date-time, years 0001-9999, e.g. 2026-05-01T00:00:00Z */
    until?: string
  }
}

export type RecoverWebhookMessagesResponse = {
  recovered: number
}

export type SendWebhookTestEventInput = {
  endpointId: string
}

export type SendWebhookTestEventResponse = {
  id: string
  /** The webhook-id header: stable across retries */
  webhookId: string
  endpointId: string
  eventType: string
  payload: unknown
  status: "pending" | "delivered" | "failed"
  attempts: number
  nextAttemptAt: string | null
  deliveredAt: string | null
  createdAt: string
}

export type GetWebhookMessageInput = {
  messageId: string
}

export type GetWebhookMessageResponse = {
  id: string
  /** The webhook-id header: stable across retries */
  webhookId: string
  endpointId: string
  eventType: string
  payload: unknown
  status: "pending" | "delivered" | "failed"
  attempts: number
  nextAttemptAt: string | null
  deliveredAt: string | null
  createdAt: string
  attemptLog: WebhookAttempt[]
}

export type ReplayWebhookMessageInput = {
  messageId: string
}

export type ReplayWebhookMessageResponse = {
  id: string
  /** scheduled or replay */
  trigger: string
  statusCode: number | null
  /** The first 1 KiB of the answer */
  responseBody: string | null
  latencyMs: number | null
  error: string | null
  nextAttemptAt: string | null
  createdAt: string
}

export type DeleteUserInput = {
  /** Your own id for the end user (as in X-User-Id) */
  userId: string
}

export type DeleteUserResponse = {
  deleted: {
    /** the user row (0 when there was none) */
    users: number
    /** sessions */
    sessions: number
    /** session log events */
    sessionEvents: number
    /** chat turns */
    turns: number
    /** uploads' metadata */
    uploads: number
    /** exports */
    exports: number
    /** the exports' archived MP4 files (local disk or S3) */
    archivedFiles: number
    /** webhook messages (with their delivery attempts) */
    webhookMessages: number
    /** upstream tokens retired (the user's own; for a tenant, all of its tokens) */
    credentials: number
  }
}

export type RevokeClientTokensInput = {
  /** Your own id for the end user (as in X-User-Id) */
  userId: string
}

export type RevokeClientTokensResponse = {
  userId: string
  revokedAt: string
}

export type CreateClientTokenInput = {
  body?: {
    scopes?: Array<"sessions:read" | "sessions:write" | "turns:write" | "events:read" | "uploads:write" | "exports:read" | "exports:write" | "credits:read" | "usage:read" | "webhooks:manage" | "users:manage" | "client-tokens:create">
    sessionIds?: string[]
    ttlSeconds?: number
  }
}

export type CreateClientTokenResponse = {
  /** A JWT for `Authorization: Bearer`; a secret for as long as it lives */
  token: string
  expiresAt: string
  scopes: string[]
  sessionIds?: string[]
}

export type GetUsageInput = {
  /** First UTC day (YYYY-MM-DD), included; default: 29 days before `to` */
  from?: string
  /** Last UTC day (YYYY-MM-DD), included; default: today. At most 366 days from `from` */
  to?: string
  /** One row per day (default) or per end user */
  groupBy?: "day" | "user"
}

export type GetUsageResponse = {
  /** user: the X-User-Id of the request; tenant: the whole tenant (no X-User-Id sent) */
  scope: "tenant" | "user"
  /** The end user of a user-scoped answer */
  userId: string | null
  /** A UTC day, YYYY-MM-DD */
  from: string
  /** A UTC day, YYYY-MM-DD */
  to: string
  groupBy: "day" | "user"
  totals: {
    /** Upstream credits spent: what the balance dropped by across actions (turns, exports), read before and after each */
    creditsSpent: number
    /** Chat turns started */
    turns: number
    /** Files uploaded, and their bytes */
    uploads: {
      count: number
      bytes: number
    }
    /** Exports that ended, by outcome */
    exports: {
      completed: number
      failed: number
      cancelled: number
    }
    /** Webhook messages that reached that outcome (the tenant's, in a tenant-wide answer only) */
    webhookDeliveries: {
      delivered: number
      failed: number
    }
  }
  /** Days or users with any usage, in order; a day with none is left out */
  rows: Array<{
    /** A UTC day, YYYY-MM-DD */
    day?: string
    /** groupBy=user: the end user's own id (X-User-Id); null for what belongs to no user (webhook deliveries) or to an erased user */
    userId?: string | null
    /** Upstream credits spent: what the balance dropped by across actions (turns, exports), read before and after each */
    creditsSpent: number
    /** Chat turns started */
    turns: number
    /** Files uploaded, and their bytes */
    uploads: {
      count: number
      bytes: number
    }
    /** Exports that ended, by outcome */
    exports: {
      completed: number
      failed: number
      cancelled: number
    }
    /** Webhook messages that reached that outcome (the tenant's, in a tenant-wide answer only) */
    webhookDeliveries: {
      delivered: number
      failed: number
    }
  }>
}

export type CreatePortalSessionInput = {
  body?: {
    ttlSeconds?: number
  }
}

export type CreatePortalSessionResponse = {
  /** For DELETE /v1/portal/sessions/{id} */
  id: string
  /** The link: a secret for as long as it lives */
  url: string
  expiresAt: string
}

export type RevokePortalSessionInput = {
  id: string
}

export type RevokePortalSessionResponse = void

export type ListTenantsInput = Record<string, never>

export type ListTenantsResponse = {
  items: Tenant[]
}

export type CreateTenantInput = {
  body: {
    name: string
    tokenMode?: "anonymous" | "registered"
    creditBudget?: number | null
    /** Origins (scheme://host[:port]) whose browser pages may call the gateway with this tenant's client tokens */
    allowedOrigins?: string[]
  }
}

export type CreateTenantResponse = {
  id: string
  name: string
  tokenMode: "anonymous" | "registered"
  creditBudget: number | null
  creditsSpent: number
  /** Browser origins whose pages may call the gateway with this tenant's client tokens */
  allowedOrigins: string[]
  createdAt: string
}

export type GetTenantInput = {
  tenantId: string
}

export type GetTenantResponse = {
  id: string
  name: string
  tokenMode: "anonymous" | "registered"
  creditBudget: number | null
  creditsSpent: number
  /** Browser origins whose pages may call the gateway with this tenant's client tokens */
  allowedOrigins: string[]
  createdAt: string
}

export type UpdateTenantInput = {
  tenantId: string
  body?: {
    tokenMode?: "anonymous" | "registered"
    creditBudget?: number | null
    /** Origins (scheme://host[:port]) whose browser pages may call the gateway with this tenant's client tokens */
    allowedOrigins?: string[]
  }
}

export type UpdateTenantResponse = {
  id: string
  name: string
  tokenMode: "anonymous" | "registered"
  creditBudget: number | null
  creditsSpent: number
  /** Browser origins whose pages may call the gateway with this tenant's client tokens */
  allowedOrigins: string[]
  createdAt: string
}

export type DeleteTenantInput = {
  tenantId: string
}

export type DeleteTenantResponse = {
  deleted: {
    /** the user row (0 when there was none) */
    users: number
    /** sessions */
    sessions: number
    /** session log events */
    sessionEvents: number
    /** chat turns */
    turns: number
    /** uploads' metadata */
    uploads: number
    /** exports */
    exports: number
    /** the exports' archived MP4 files (local disk or S3) */
    archivedFiles: number
    /** webhook messages (with their delivery attempts) */
    webhookMessages: number
    /** upstream tokens retired (the user's own; for a tenant, all of its tokens) */
    credentials: number
    /** the tenant row (0 when there was none) */
    tenants: number
    /** API keys */
    apiKeys: number
    /** webhook endpoints */
    webhookEndpoints: number
    /** stored idempotent responses */
    idempotencyRecords: number
    /** token mint ledger entries */
    mintLedger: number
  }
}

export type ListApiKeysInput = {
  tenantId: string
}

export type ListApiKeysResponse = {
  items: ApiKey[]
}

export type IssueApiKeyInput = {
  tenantId: string
  body?: {
    name?: string
    expiresAt?: string
    /** What the key may do; default ["*"] (everything) */
    scopes?: Array<"*" | "sessions:read" | "sessions:write" | "turns:write" | "events:read" | "uploads:write" | "exports:read" | "exports:write" | "credits:read" | "usage:read" | "webhooks:manage" | "users:manage" | "client-tokens:create">
  }
}

export type IssueApiKeyResponse = {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  /** The full API key. Shown once: store it now. */
  key: string
  expiresAt: string | null
  createdAt: string
}

export type ListTokenIssuersInput = {
  tenantId: string
}

export type ListTokenIssuersResponse = {
  items: TokenIssuer[]
}

export type CreateTokenIssuerInput = {
  tenantId: string
  body: {
    /** The tokens' iss */
    issuer: string
    jwksUrl: string
    /** The aud the tokens must carry */
    audience: string
    /** The claim naming the user (default sub) */
    userClaim?: string
    /** A claim with the token's scopes; absent: the client token default */
    scopeClaim?: string
  }
}

export type CreateTokenIssuerResponse = {
  id: string
  tenantId: string
  issuer: string
  jwksUrl: string
  audience: string
  userClaim: string
  scopeClaim: string | null
  createdAt: string
}

export type RemoveTokenIssuerInput = {
  tenantId: string
  issuerId: string
}

export type RemoveTokenIssuerResponse = void

export type ListCredentialsInput = {
  tenantId: string
}

export type ListCredentialsResponse = {
  items: Credential[]
}

export type RegisterCredentialInput = {
  tenantId: string
  body: {
    token: string
    label?: string
    expiresAt?: string
  }
}

export type RegisterCredentialResponse = {
  id: string
  tenantId: string
  userId: string | null
  kind: "anonymous" | "registered"
  label: string | null
  state: string
  stateReason: string | null
  upstreamUserId: string | null
  expiresAt: string | null
  retryAfter: string | null
  createdAt: string
  sessions?: number
}

export type RemoveCredentialInput = {
  tenantId: string
  credentialId: string
}

export type RemoveCredentialResponse = {
  id: string
  tenantId: string
  userId: string | null
  kind: "anonymous" | "registered"
  label: string | null
  state: string
  stateReason: string | null
  upstreamUserId: string | null
  expiresAt: string | null
  retryAfter: string | null
  createdAt: string
  sessions?: number
}

export type GetApiKeyInput = {
  /** The key's id or its keyId */
  apiKeyId: string
}

export type GetApiKeyResponse = {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
  rotatedToId: string | null
}

export type RevokeApiKeyInput = {
  /** The key's id or its keyId */
  apiKeyId: string
}

export type RevokeApiKeyResponse = {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  createdAt: string
  expiresAt: string | null
  revokedAt: string | null
  lastUsedAt: string | null
  rotatedToId: string | null
}

export type RotateApiKeyInput = {
  /** The key's id or its keyId */
  apiKeyId: string
  body: {
    overlapSeconds: number
  }
}

export type RotateApiKeyResponse = {
  key: IssuedKey
  previous: ApiKey
}

export type RotateSigningKeyInput = Record<string, never>

export type RotateSigningKeyResponse = {
  kid: string
}

export type GetJwksInput = Record<string, never>

export type GetJwksResponse = {
  keys?: Array<{
    [key: string]: unknown
  }>
}

/** How the runtime calls each operation: method, path template and where each input goes. */
export const operations = {
  checkLiveness: { method: 'GET', path: '/health/live', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: null },
  checkReadiness: { method: 'GET', path: '/health/ready', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: null },
  listSessions: { method: 'GET', path: '/v1/sessions', pathParams: [], query: ["cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  createSession: { method: 'POST', path: '/v1/sessions', pathParams: [], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  getSession: { method: 'GET', path: '/v1/sessions/{sessionId}', pathParams: ["sessionId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  getSessionWebLink: { method: 'GET', path: '/v1/sessions/{sessionId}/web-link', pathParams: ["sessionId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  getCredits: { method: 'GET', path: '/v1/credits', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  listTurns: { method: 'GET', path: '/v1/sessions/{sessionId}/turns', pathParams: ["sessionId"], query: ["cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  startTurn: { method: 'POST', path: '/v1/sessions/{sessionId}/turns', pathParams: ["sessionId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  getTurn: { method: 'GET', path: '/v1/sessions/{sessionId}/turns/{turnId}', pathParams: ["sessionId","turnId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  listSessionEvents: { method: 'GET', path: '/v1/sessions/{sessionId}/events', pathParams: ["sessionId"], query: ["after","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  getSessionState: { method: 'GET', path: '/v1/sessions/{sessionId}/state', pathParams: ["sessionId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  say: { method: 'POST', path: '/v1/sessions/{sessionId}/say', pathParams: ["sessionId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  listUploads: { method: 'GET', path: '/v1/sessions/{sessionId}/uploads', pathParams: ["sessionId"], query: ["cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  uploadFiles: { method: 'POST', path: '/v1/sessions/{sessionId}/uploads', pathParams: ["sessionId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  listSessionExports: { method: 'GET', path: '/v1/sessions/{sessionId}/exports', pathParams: ["sessionId"], query: ["cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  startExport: { method: 'POST', path: '/v1/sessions/{sessionId}/exports', pathParams: ["sessionId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  listExports: { method: 'GET', path: '/v1/exports', pathParams: [], query: ["sessionId","status","cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  getExport: { method: 'GET', path: '/v1/exports/{exportId}', pathParams: ["exportId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  cancelExport: { method: 'POST', path: '/v1/exports/{exportId}/cancel', pathParams: ["exportId"], query: [], headers: {}, body: false, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  downloadExport: { method: 'GET', path: '/v1/exports/{exportId}/download', pathParams: ["exportId"], query: ["redirect"], headers: {"range":"range"}, body: false, idempotencyKey: false, answer: 'raw', auth: 'apiKey' },
  listWebhookEndpoints: { method: 'GET', path: '/v1/webhooks/endpoints', pathParams: [], query: ["cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  createWebhookEndpoint: { method: 'POST', path: '/v1/webhooks/endpoints', pathParams: [], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  getWebhookEndpoint: { method: 'GET', path: '/v1/webhooks/endpoints/{endpointId}', pathParams: ["endpointId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  updateWebhookEndpoint: { method: 'PATCH', path: '/v1/webhooks/endpoints/{endpointId}', pathParams: ["endpointId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  deleteWebhookEndpoint: { method: 'DELETE', path: '/v1/webhooks/endpoints/{endpointId}', pathParams: ["endpointId"], query: [], headers: {}, body: false, idempotencyKey: true, answer: 'none', auth: 'apiKey' },
  rotateWebhookSecret: { method: 'POST', path: '/v1/webhooks/endpoints/{endpointId}/rotate-secret', pathParams: ["endpointId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  listWebhookMessages: { method: 'GET', path: '/v1/webhooks/endpoints/{endpointId}/messages', pathParams: ["endpointId"], query: ["status","cursor","limit"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  recoverWebhookMessages: { method: 'POST', path: '/v1/webhooks/endpoints/{endpointId}/recover', pathParams: ["endpointId"], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  sendWebhookTestEvent: { method: 'POST', path: '/v1/webhooks/endpoints/{endpointId}/test', pathParams: ["endpointId"], query: [], headers: {}, body: false, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  getWebhookMessage: { method: 'GET', path: '/v1/webhooks/messages/{messageId}', pathParams: ["messageId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  replayWebhookMessage: { method: 'POST', path: '/v1/webhooks/messages/{messageId}/replay', pathParams: ["messageId"], query: [], headers: {}, body: false, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  deleteUser: { method: 'DELETE', path: '/v1/users/{userId}', pathParams: ["userId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  revokeClientTokens: { method: 'POST', path: '/v1/users/{userId}/client-tokens/revoke', pathParams: ["userId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  createClientToken: { method: 'POST', path: '/v1/client-tokens', pathParams: [], query: [], headers: {}, body: true, idempotencyKey: true, answer: 'json', auth: 'apiKey' },
  getUsage: { method: 'GET', path: '/v1/usage', pathParams: [], query: ["from","to","groupBy"], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  createPortalSession: { method: 'POST', path: '/v1/portal/sessions', pathParams: [], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
  revokePortalSession: { method: 'DELETE', path: '/v1/portal/sessions/{id}', pathParams: ["id"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'none', auth: 'apiKey' },
  listTenants: { method: 'GET', path: '/admin/v1/tenants', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  createTenant: { method: 'POST', path: '/admin/v1/tenants', pathParams: [], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  getTenant: { method: 'GET', path: '/admin/v1/tenants/{tenantId}', pathParams: ["tenantId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  updateTenant: { method: 'PATCH', path: '/admin/v1/tenants/{tenantId}', pathParams: ["tenantId"], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  deleteTenant: { method: 'DELETE', path: '/admin/v1/tenants/{tenantId}', pathParams: ["tenantId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  listApiKeys: { method: 'GET', path: '/admin/v1/tenants/{tenantId}/keys', pathParams: ["tenantId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  issueApiKey: { method: 'POST', path: '/admin/v1/tenants/{tenantId}/keys', pathParams: ["tenantId"], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  listTokenIssuers: { method: 'GET', path: '/admin/v1/tenants/{tenantId}/issuers', pathParams: ["tenantId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  createTokenIssuer: { method: 'POST', path: '/admin/v1/tenants/{tenantId}/issuers', pathParams: ["tenantId"], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  removeTokenIssuer: { method: 'DELETE', path: '/admin/v1/tenants/{tenantId}/issuers/{issuerId}', pathParams: ["tenantId","issuerId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'none', auth: 'admin' },
  listCredentials: { method: 'GET', path: '/admin/v1/tenants/{tenantId}/credentials', pathParams: ["tenantId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  registerCredential: { method: 'POST', path: '/admin/v1/tenants/{tenantId}/credentials', pathParams: ["tenantId"], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  removeCredential: { method: 'DELETE', path: '/admin/v1/tenants/{tenantId}/credentials/{credentialId}', pathParams: ["tenantId","credentialId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  getApiKey: { method: 'GET', path: '/admin/v1/keys/{apiKeyId}', pathParams: ["apiKeyId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  revokeApiKey: { method: 'POST', path: '/admin/v1/keys/{apiKeyId}/revoke', pathParams: ["apiKeyId"], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  rotateApiKey: { method: 'POST', path: '/admin/v1/keys/{apiKeyId}/rotate', pathParams: ["apiKeyId"], query: [], headers: {}, body: true, idempotencyKey: false, answer: 'json', auth: 'admin' },
  rotateSigningKey: { method: 'POST', path: '/admin/v1/signing-keys/rotate', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'admin' },
  getJwks: { method: 'GET', path: '/.well-known/jwks.json', pathParams: [], query: [], headers: {}, body: false, idempotencyKey: false, answer: 'json', auth: 'apiKey' },
} as const

export type OperationId = keyof typeof operations

/** Per-call options every method takes. */
export interface RequestOptions {
  /** The end user this call acts for (`X-User-Id`); defaults to the client's `userId`. */
  userId?: string
  /** The `Idempotency-Key` for a POST; one is made up (and kept across retries) when absent. */
  idempotencyKey?: string
  /** Extra request headers (e.g. `range` for a download). */
  headers?: Record<string, string>
  /** Retries after a 429/502/503 or a dropped connection; defaults to the client's. */
  retries?: number
  signal?: AbortSignal
}

/** One typed method per operation, named by its operationId. */
export abstract class GeneratedClient {
  protected abstract request (operation: OperationId, input: Record<string, unknown>, options?: RequestOptions): Promise<unknown>

  /** Liveness: the process answers
   *
   * `GET /health/live` */
  checkLiveness (input?: CheckLivenessInput, options?: RequestOptions): Promise<CheckLivenessResponse> {
    return this.request('checkLiveness', input ?? {}, options) as Promise<CheckLivenessResponse>
  }

  /** Readiness: the database answers (the upstream is reported, not required)
   *
   * `GET /health/ready` */
  checkReadiness (input?: CheckReadinessInput, options?: RequestOptions): Promise<CheckReadinessResponse> {
    return this.request('checkReadiness', input ?? {}, options) as Promise<CheckReadinessResponse>
  }

  /** List the user's sessions, newest first
   *
   * `GET /v1/sessions` */
  listSessions (input?: ListSessionsInput, options?: RequestOptions): Promise<ListSessionsResponse> {
    return this.request('listSessions', input ?? {}, options) as Promise<ListSessionsResponse>
  }

  /** Open an editing session
   *
   * `POST /v1/sessions` */
  createSession (input?: CreateSessionInput, options?: RequestOptions): Promise<CreateSessionResponse> {
    return this.request('createSession', input ?? {}, options) as Promise<CreateSessionResponse>
  }

  /** One session
   *
   * `GET /v1/sessions/{sessionId}` */
  getSession (input: GetSessionInput, options?: RequestOptions): Promise<GetSessionResponse> {
    return this.request('getSession', input ?? {}, options) as Promise<GetSessionResponse>
  }

  /** The link that opens the session in Nemo's web editor
   *
   * A claim link (`https://nemovideo.com/workspace/claim?ct=<claim token>`), valid until `expiresAt` (7 days) and reused until then. It never carries the upstream token: hand it to the end user to continue editing in the web app.
   *
   * `GET /v1/sessions/{sessionId}/web-link` */
  getSessionWebLink (input: GetSessionWebLinkInput, options?: RequestOptions): Promise<GetSessionWebLinkResponse> {
    return this.request('getSessionWebLink', input ?? {}, options) as Promise<GetSessionWebLinkResponse>
  }

  /** Credits left for the end user, and the tenant's budget (a read: never mints a token, a zero balance is a 200)
   *
   * `GET /v1/credits` */
  getCredits (input?: GetCreditsInput, options?: RequestOptions): Promise<GetCreditsResponse> {
    return this.request('getCredits', input ?? {}, options) as Promise<GetCreditsResponse>
  }

  /** The session's turns, newest first
   *
   * `GET /v1/sessions/{sessionId}/turns` */
  listTurns (input: ListTurnsInput, options?: RequestOptions): Promise<ListTurnsResponse> {
    return this.request('listTurns', input ?? {}, options) as Promise<ListTurnsResponse>
  }

  /** Send a chat message to the editing agent
   *
   * Answers 202 with the running turn (follow it with GET .../turns/{turnId} or the session's events), or with `Accept: text/event-stream` answers 200 and streams the turn's events live, from turn.started to turn.completed or turn.failed; leaving early does not cancel the turn. One running turn per session: a second gets 409 GW_ERR_TURN_IN_PROGRESS. A user whose token is known to have no credits left gets 402 GW_ERR_CREDITS_EXHAUSTED with the registration `hint` at once, and a tenant over its budget 402 GW_ERR_BUDGET_EXCEEDED.
   *
   * `POST /v1/sessions/{sessionId}/turns` */
  startTurn (input: StartTurnInput, options?: RequestOptions): Promise<StartTurnResponse> {
    return this.request('startTurn', input ?? {}, options) as Promise<StartTurnResponse>
  }

  /** One turn
   *
   * `GET /v1/sessions/{sessionId}/turns/{turnId}` */
  getTurn (input: GetTurnInput, options?: RequestOptions): Promise<GetTurnResponse> {
    return this.request('getTurn', input ?? {}, options) as Promise<GetTurnResponse>
  }

  /** The session's event log after a cursor (JSON), or live as text/event-stream
   *
   * A page of the log after `after` (JSON), or with `Accept: text/event-stream` the same log replayed from the cursor and then followed live, with no gap and no duplicate; `Last-Event-ID` (a reconnecting EventSource) wins over `after`.
   *
   * `GET /v1/sessions/{sessionId}/events` */
  listSessionEvents (input: ListSessionEventsInput, options?: RequestOptions): Promise<ListSessionEventsResponse> {
    return this.request('listSessionEvents', input ?? {}, options) as Promise<ListSessionEventsResponse>
  }

  /** The session's timeline (tracks, canvas, assets) and a one-line summary
   *
   * `GET /v1/sessions/{sessionId}/state` */
  getSessionState (input: GetSessionStateInput, options?: RequestOptions): Promise<GetSessionStateResponse> {
    return this.request('getSessionState', input ?? {}, options) as Promise<GetSessionStateResponse>
  }

  /** Say something: routed to export, credits, state, upload help or a chat turn
   *
   * `POST /v1/sessions/{sessionId}/say` */
  say (input: SayInput, options?: RequestOptions): Promise<SayResponse> {
    return this.request('say', input ?? {}, options) as Promise<SayResponse>
  }

  /** The session's uploads, newest first
   *
   * `GET /v1/sessions/{sessionId}/uploads` */
  listUploads (input: ListUploadsInput, options?: RequestOptions): Promise<ListUploadsResponse> {
    return this.request('listUploads', input ?? {}, options) as Promise<ListUploadsResponse>
  }

  /** Upload files to the session
   *
   * multipart/form-data with up to 20 files in the field "files" (streamed through, each up to UPLOAD_MAX_BYTES), or JSON {"urls": [...]} for files the upstream fetches. Accepted: video: mp4, mov, avi, webm, mkv; image: jpg, jpeg, png, gif, webp; audio: mp3, wav, m4a, aac. The extension and the leading bytes must agree (415 otherwise); a file over the limit is 413. Progress is logged to the session's events as upload.progress, then upload.completed or upload.failed.
   *
   * `POST /v1/sessions/{sessionId}/uploads` */
  uploadFiles (input: UploadFilesInput, options?: RequestOptions): Promise<UploadFilesResponse> {
    return this.request('uploadFiles', input ?? {}, options) as Promise<UploadFilesResponse>
  }

  /** The session's exports, newest first
   *
   * `GET /v1/sessions/{sessionId}/exports` */
  listSessionExports (input: ListSessionExportsInput, options?: RequestOptions): Promise<ListSessionExportsResponse> {
    return this.request('listSessionExports', input ?? {}, options) as Promise<ListSessionExportsResponse>
  }

  /** Export the session's timeline to an MP4 (a render job)
   *
   * Reads the latest timeline, refuses one with nothing to render (422 GW_ERR_NOTHING_TO_EXPORT), submits the render and answers 202 with the export. `nextPollAt` says when the gateway first asks the upstream for progress (EXPORT_POLL_INITIAL_MS, 30 s by default): progress stays at its first value until then. Follow it with GET /v1/exports/:id, the session's events (export.progress, export.completed) or a webhook.
   *
   * `POST /v1/sessions/{sessionId}/exports` */
  startExport (input: StartExportInput, options?: RequestOptions): Promise<StartExportResponse> {
    return this.request('startExport', input ?? {}, options) as Promise<StartExportResponse>
  }

  /** The user's exports, newest first
   *
   * `GET /v1/exports` */
  listExports (input?: ListExportsInput, options?: RequestOptions): Promise<ListExportsResponse> {
    return this.request('listExports', input ?? {}, options) as Promise<ListExportsResponse>
  }

  /** One export
   *
   * `GET /v1/exports/{exportId}` */
  getExport (input: GetExportInput, options?: RequestOptions): Promise<GetExportResponse> {
    return this.request('getExport', input ?? {}, options) as Promise<GetExportResponse>
  }

  /** Cancel an export that has not finished
   *
   * `POST /v1/exports/{exportId}/cancel` */
  cancelExport (input: CancelExportInput, options?: RequestOptions): Promise<CancelExportResponse> {
    return this.request('cancelExport', input ?? {}, options) as Promise<CancelExportResponse>
  }

  /** The rendered MP4
   *
   * Streams the file: the gateway's archived copy once it is made (`archive.state` archived; Range requests answer 206 with Content-Range, ETag is the sha256), until then the upstream's file (Range passes through), or with ?redirect=true a 302 to the upstream's file URL while there is no archived copy. 409 GW_ERR_EXPORT_NOT_READY until the export has completed; 410 GW_ERR_EXPORT_EXPIRED once its archived file was deleted after OUTPUT_RETENTION_DAYS.
   *
   * `GET /v1/exports/{exportId}/download` */
  downloadExport (input: DownloadExportInput, options?: RequestOptions): Promise<DownloadExportResponse> {
    return this.request('downloadExport', input ?? {}, options) as Promise<DownloadExportResponse>
  }

  /** The tenant's webhook endpoints, newest first
   *
   * `GET /v1/webhooks/endpoints` */
  listWebhookEndpoints (input?: ListWebhookEndpointsInput, options?: RequestOptions): Promise<ListWebhookEndpointsResponse> {
    return this.request('listWebhookEndpoints', input ?? {}, options) as Promise<ListWebhookEndpointsResponse>
  }

  /** Add a webhook endpoint (the answer carries its secret, once)
   *
   * `POST /v1/webhooks/endpoints` */
  createWebhookEndpoint (input?: CreateWebhookEndpointInput, options?: RequestOptions): Promise<CreateWebhookEndpointResponse> {
    return this.request('createWebhookEndpoint', input ?? {}, options) as Promise<CreateWebhookEndpointResponse>
  }

  /** One webhook endpoint
   *
   * `GET /v1/webhooks/endpoints/{endpointId}` */
  getWebhookEndpoint (input: GetWebhookEndpointInput, options?: RequestOptions): Promise<GetWebhookEndpointResponse> {
    return this.request('getWebhookEndpoint', input ?? {}, options) as Promise<GetWebhookEndpointResponse>
  }

  /** Change an endpoint's URL, events or description, or enable/disable it
   *
   * `PATCH /v1/webhooks/endpoints/{endpointId}` */
  updateWebhookEndpoint (input: UpdateWebhookEndpointInput, options?: RequestOptions): Promise<UpdateWebhookEndpointResponse> {
    return this.request('updateWebhookEndpoint', input ?? {}, options) as Promise<UpdateWebhookEndpointResponse>
  }

  /** Remove an endpoint and its messages
   *
   * `DELETE /v1/webhooks/endpoints/{endpointId}` */
  deleteWebhookEndpoint (input: DeleteWebhookEndpointInput, options?: RequestOptions): Promise<DeleteWebhookEndpointResponse> {
    return this.request('deleteWebhookEndpoint', input ?? {}, options) as Promise<DeleteWebhookEndpointResponse>
  }

  /** A new secret; the old one keeps signing (both signatures are sent) for the overlap
   *
   * `POST /v1/webhooks/endpoints/{endpointId}/rotate-secret` */
  rotateWebhookSecret (input: RotateWebhookSecretInput, options?: RequestOptions): Promise<RotateWebhookSecretResponse> {
    return this.request('rotateWebhookSecret', input ?? {}, options) as Promise<RotateWebhookSecretResponse>
  }

  /** Messages sent (or being sent) to an endpoint, newest first
   *
   * `GET /v1/webhooks/endpoints/{endpointId}/messages` */
  listWebhookMessages (input: ListWebhookMessagesInput, options?: RequestOptions): Promise<ListWebhookMessagesResponse> {
    return this.request('listWebhookMessages', input ?? {}, options) as Promise<ListWebhookMessagesResponse>
  }

  /** Send every failed message since a time again, on the normal retry schedule
   *
   * `POST /v1/webhooks/endpoints/{endpointId}/recover` */
  recoverWebhookMessages (input: RecoverWebhookMessagesInput, options?: RequestOptions): Promise<RecoverWebhookMessagesResponse> {
    return this.request('recoverWebhookMessages', input ?? {}, options) as Promise<RecoverWebhookMessagesResponse>
  }

  /** Send a webhook.test event to this endpoint now (whatever its event filter); answers with the message
   *
   * `POST /v1/webhooks/endpoints/{endpointId}/test` */
  sendWebhookTestEvent (input: SendWebhookTestEventInput, options?: RequestOptions): Promise<SendWebhookTestEventResponse> {
    return this.request('sendWebhookTestEvent', input ?? {}, options) as Promise<SendWebhookTestEventResponse>
  }

  /** One message with its attempt log
   *
   * `GET /v1/webhooks/messages/{messageId}` */
  getWebhookMessage (input: GetWebhookMessageInput, options?: RequestOptions): Promise<GetWebhookMessageResponse> {
    return this.request('getWebhookMessage', input ?? {}, options) as Promise<GetWebhookMessageResponse>
  }

  /** Send one message again now (same webhook-id); answers with the attempt
   *
   * `POST /v1/webhooks/messages/{messageId}/replay` */
  replayWebhookMessage (input: ReplayWebhookMessageInput, options?: RequestOptions): Promise<ReplayWebhookMessageResponse> {
    return this.request('replayWebhookMessage', input ?? {}, options) as Promise<ReplayWebhookMessageResponse>
  }

  /** Delete an end user and all their data (idempotent: an unknown or already deleted user answers 200 with zero counts)
   *
   * Cancels the user's active exports and running turns first, then removes their sessions, session events, turns, uploads' metadata, exports, the webhook messages about them or their exports, and their own upstream tokens (a shared registered token is kept), then the user.
   *
   * `DELETE /v1/users/{userId}` */
  deleteUser (input: DeleteUserInput, options?: RequestOptions): Promise<DeleteUserResponse> {
    return this.request('deleteUser', input ?? {}, options) as Promise<DeleteUserResponse>
  }

  /** End every client token of the user at once (on every instance within AUTH_CACHE_TTL_MS); tokens minted afterwards work
   *
   * `POST /v1/users/{userId}/client-tokens/revoke` */
  revokeClientTokens (input: RevokeClientTokensInput, options?: RequestOptions): Promise<RevokeClientTokensResponse> {
    return this.request('revokeClientTokens', input ?? {}, options) as Promise<RevokeClientTokensResponse>
  }

  /** A short-lived token for the end user (X-User-Id) to use from a browser or app, in place of the API key
   *
   * Defaults: scopes sessions:read, events:read, exports:read, credits:read (read and follow); 15 minutes. Writes need explicit scopes; webhooks:manage, users:manage and client-tokens:create are never granted. With sessionIds, the token sees only those sessions of the user.
   *
   * `POST /v1/client-tokens` */
  createClientToken (input?: CreateClientTokenInput, options?: RequestOptions): Promise<CreateClientTokenResponse> {
    return this.request('createClientToken', input ?? {}, options) as Promise<CreateClientTokenResponse>
  }

  /** Credits spent, turns, uploads, exports and webhook deliveries per day or per user (counters kept as the work happens)
   *
   * `GET /v1/usage` */
  getUsage (input?: GetUsageInput, options?: RequestOptions): Promise<GetUsageResponse> {
    return this.request('getUsage', input ?? {}, options) as Promise<GetUsageResponse>
  }

  /** A link to the webhook portal for the tenant's staff (the API key never reaches the browser)
   *
   * The link opens /portal for this tenant for 60 minutes unless asked otherwise (24 h at most). Its token may only webhooks:manage and usage:read (tenant-wide); only its hash is stored, and DELETE revokes it. The token is in the URL's fragment (#token=...), which browsers never send to a server.
   *
   * `POST /v1/portal/sessions` */
  createPortalSession (input?: CreatePortalSessionInput, options?: RequestOptions): Promise<CreatePortalSessionResponse> {
    return this.request('createPortalSession', input ?? {}, options) as Promise<CreatePortalSessionResponse>
  }

  /** Revoke a portal link at once
   *
   * `DELETE /v1/portal/sessions/{id}` */
  revokePortalSession (input: RevokePortalSessionInput, options?: RequestOptions): Promise<RevokePortalSessionResponse> {
    return this.request('revokePortalSession', input ?? {}, options) as Promise<RevokePortalSessionResponse>
  }

  /** List tenants
   *
   * `GET /admin/v1/tenants` */
  listTenants (input?: ListTenantsInput, options?: RequestOptions): Promise<ListTenantsResponse> {
    return this.request('listTenants', input ?? {}, options) as Promise<ListTenantsResponse>
  }

  /** Create a tenant
   *
   * `POST /admin/v1/tenants` */
  createTenant (input?: CreateTenantInput, options?: RequestOptions): Promise<CreateTenantResponse> {
    return this.request('createTenant', input ?? {}, options) as Promise<CreateTenantResponse>
  }

  /** One tenant
   *
   * `GET /admin/v1/tenants/{tenantId}` */
  getTenant (input: GetTenantInput, options?: RequestOptions): Promise<GetTenantResponse> {
    return this.request('getTenant', input ?? {}, options) as Promise<GetTenantResponse>
  }

  /** Change a tenant's token mode, credit budget or allowed browser origins
   *
   * `PATCH /admin/v1/tenants/{tenantId}` */
  updateTenant (input: UpdateTenantInput, options?: RequestOptions): Promise<UpdateTenantResponse> {
    return this.request('updateTenant', input ?? {}, options) as Promise<UpdateTenantResponse>
  }

  /** Delete a tenant and everything of it (idempotent: an unknown or already deleted tenant answers 200 with zero counts)
   *
   * Cancels the tenant's active exports and running turns first, then removes its users' data, its upstream tokens, webhook endpoints and messages, API keys, stored idempotent responses and mint ledger entries, then the tenant.
   *
   * `DELETE /admin/v1/tenants/{tenantId}` */
  deleteTenant (input: DeleteTenantInput, options?: RequestOptions): Promise<DeleteTenantResponse> {
    return this.request('deleteTenant', input ?? {}, options) as Promise<DeleteTenantResponse>
  }

  /** List a tenant's API keys (never the secrets)
   *
   * `GET /admin/v1/tenants/{tenantId}/keys` */
  listApiKeys (input: ListApiKeysInput, options?: RequestOptions): Promise<ListApiKeysResponse> {
    return this.request('listApiKeys', input ?? {}, options) as Promise<ListApiKeysResponse>
  }

  /** Issue an API key (shown once)
   *
   * `POST /admin/v1/tenants/{tenantId}/keys` */
  issueApiKey (input: IssueApiKeyInput, options?: RequestOptions): Promise<IssueApiKeyResponse> {
    return this.request('issueApiKey', input ?? {}, options) as Promise<IssueApiKeyResponse>
  }

  /** The tenant's token issuers
   *
   * `GET /admin/v1/tenants/{tenantId}/issuers` */
  listTokenIssuers (input: ListTokenIssuersInput, options?: RequestOptions): Promise<ListTokenIssuersResponse> {
    return this.request('listTokenIssuers', input ?? {}, options) as Promise<ListTokenIssuersResponse>
  }

  /** Accept tokens of the tenant's own identity provider as client tokens
   *
   * The JWKS is fetched through the webhook egress rule (WEBHOOK_ALLOWED_CIDRS opens private addresses), cached per its Cache-Control, fetched again for an unknown kid at most once a minute.
   *
   * `POST /admin/v1/tenants/{tenantId}/issuers` */
  createTokenIssuer (input: CreateTokenIssuerInput, options?: RequestOptions): Promise<CreateTokenIssuerResponse> {
    return this.request('createTokenIssuer', input ?? {}, options) as Promise<CreateTokenIssuerResponse>
  }

  /** Stop accepting an issuer's tokens
   *
   * `DELETE /admin/v1/tenants/{tenantId}/issuers/{issuerId}` */
  removeTokenIssuer (input: RemoveTokenIssuerInput, options?: RequestOptions): Promise<RemoveTokenIssuerResponse> {
    return this.request('removeTokenIssuer', input ?? {}, options) as Promise<RemoveTokenIssuerResponse>
  }

  /** The tenant's upstream tokens and their states
   *
   * `GET /admin/v1/tenants/{tenantId}/credentials` */
  listCredentials (input: ListCredentialsInput, options?: RequestOptions): Promise<ListCredentialsResponse> {
    return this.request('listCredentials', input ?? {}, options) as Promise<ListCredentialsResponse>
  }

  /** Register an upstream token for the tenant's shared pool
   *
   * `POST /admin/v1/tenants/{tenantId}/credentials` */
  registerCredential (input: RegisterCredentialInput, options?: RequestOptions): Promise<RegisterCredentialResponse> {
    return this.request('registerCredential', input ?? {}, options) as Promise<RegisterCredentialResponse>
  }

  /** Remove (revoke) an upstream token
   *
   * `DELETE /admin/v1/tenants/{tenantId}/credentials/{credentialId}` */
  removeCredential (input: RemoveCredentialInput, options?: RequestOptions): Promise<RemoveCredentialResponse> {
    return this.request('removeCredential', input ?? {}, options) as Promise<RemoveCredentialResponse>
  }

  /** One API key (never its secret)
   *
   * `GET /admin/v1/keys/{apiKeyId}` */
  getApiKey (input: GetApiKeyInput, options?: RequestOptions): Promise<GetApiKeyResponse> {
    return this.request('getApiKey', input ?? {}, options) as Promise<GetApiKeyResponse>
  }

  /** Revoke a key now
   *
   * `POST /admin/v1/keys/{apiKeyId}/revoke` */
  revokeApiKey (input: RevokeApiKeyInput, options?: RequestOptions): Promise<RevokeApiKeyResponse> {
    return this.request('revokeApiKey', input ?? {}, options) as Promise<RevokeApiKeyResponse>
  }

  /** Issue a replacement key; the old one keeps working for overlapSeconds
   *
   * `POST /admin/v1/keys/{apiKeyId}/rotate` */
  rotateApiKey (input: RotateApiKeyInput, options?: RequestOptions): Promise<RotateApiKeyResponse> {
    return this.request('rotateApiKey', input ?? {}, options) as Promise<RotateApiKeyResponse>
  }

  /** Sign new client tokens with a new key (DATA_DIR keys; with TOKEN_SIGNING_KEY, change the setting instead)
   *
   * `POST /admin/v1/signing-keys/rotate` */
  rotateSigningKey (input?: RotateSigningKeyInput, options?: RequestOptions): Promise<RotateSigningKeyResponse> {
    return this.request('rotateSigningKey', input ?? {}, options) as Promise<RotateSigningKeyResponse>
  }

  /** The public keys that verify client tokens (JWKS)
   *
   * `GET /.well-known/jwks.json` */
  getJwks (input?: GetJwksInput, options?: RequestOptions): Promise<GetJwksResponse> {
    return this.request('getJwks', input ?? {}, options) as Promise<GetJwksResponse>
  }

}
