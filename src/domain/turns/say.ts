// "Say": one sentence from a person, routed by the product's keyword table (nemo/intents)
// to the operation it names (export readiness, credits, timeline state, upload help) or to
// a chat turn, and answered with the action taken and its result.
import { ACCEPTED_FILE_TYPES_TEXT } from '../../nemo/file-types.ts'
import { routeSay, type SayIntent } from '../../nemo/intents.ts'
import type { Credits, CreditsView } from '../tokens/index.ts'
import type { Actor } from '../common/index.ts'
import type { Sessions } from '../sessions/index.ts'
import type { TimelineView, Timelines } from '../sessions/index.ts'
import type { StartedTurn, Turns } from './turns.ts'
import type { ExportView, Exports } from '../exports/index.ts'

export type SayResult =
  | { action: 'export', message: string, exportable: boolean, summary: string, export: ExportView }
  | { action: 'credits', message: string, credits: CreditsView }
  | { action: 'state', message: string, state: TimelineView }
  | { action: 'upload', message: string, upload: { method: 'POST', path: string, accepted: string, maxBytes: number } }
  | { action: 'chat', message: string, turn: StartedTurn['turn'] }

export class Say {
  constructor (
    private readonly sessions: Sessions,
    private readonly turns: Turns,
    private readonly timelines: Timelines,
    private readonly credits: Credits,
    private readonly exports: Exports,
    private readonly uploadMaxBytes: number
  ) {}

  intent (text: string): SayIntent {
    return routeSay(text)
  }

  /** `idempotencyKey` makes a retried "export" return the export the first call started. */
  async handle (actor: Actor, sessionId: string, text: string, idempotencyKey?: string): Promise<SayResult> {
    await this.sessions.getRow(actor, sessionId)
    switch (routeSay(text)) {
      case 'export': {
        // a draft with nothing to render is refused by start() with GW_ERR_NOTHING_TO_EXPORT
        const started = await this.exports.start(actor, sessionId, {}, idempotencyKey)
        const state = await this.timelines.get(actor, sessionId)
        return {
          action: 'export',
          exportable: state.exportable,
          summary: state.summary,
          export: started,
          message: `Export ${started.id} started (${started.quality} quality MP4): follow it at /v1/exports/${started.id}; it is also announced as export.completed on the session's events and webhooks`
        }
      }
      case 'credits': {
        const credits = await this.credits.get(actor)
        return { action: 'credits', credits, message: `${credits.available} credits available (${credits.frozen} held for work in progress)` }
      }
      case 'state': {
        const state = await this.timelines.get(actor, sessionId)
        return { action: 'state', state, message: state.summary }
      }
      case 'upload':
        return {
          action: 'upload',
          upload: { method: 'POST', path: `/v1/sessions/${sessionId}/uploads`, accepted: ACCEPTED_FILE_TYPES_TEXT, maxBytes: this.uploadMaxBytes },
          message: `Upload files with POST /v1/sessions/${sessionId}/uploads (multipart field "files", or JSON {"urls": [...]}). Accepted: ${ACCEPTED_FILE_TYPES_TEXT}.`
        }
      case 'chat': {
        const { turn } = await this.turns.start(actor, sessionId, text)
        return { action: 'chat', turn, message: 'Sent to the editing agent; follow the session\'s events for its answer' }
      }
    }
  }
}
