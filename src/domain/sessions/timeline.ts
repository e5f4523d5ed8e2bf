// The session's timeline, read from the upstream state: tracks from the draft's short keys,
// the canvas, the uploaded assets and the product's one-line summary. Every read keeps the
// state as the session's snapshot, the "before" of the next silent edit's diff.
import { diffTimelines, isExportable, parseTimeline, summarize, type Timeline, type TimelineDiff } from '../../nemo/draft.ts'
import type { SessionState } from '../../nemo/wire.ts'
import type { Actor } from '../common/index.ts'
import type { SessionContext, Sessions } from './sessions.ts'
import type { NemoClient } from '../../nemo/client.ts'

export interface TimelineView {
  sessionId: string
  summary: string
  exportable: boolean
  timeline: Timeline
  canvas: Record<string, unknown> | null
  assets: unknown[]
  generatedMedia: unknown[]
}

export interface StateChange {
  diff: TimelineDiff
  changed: boolean
  after: Timeline
  assetsAdded: number
}

function assetsOf (snapshot: unknown): unknown[] {
  const s = snapshot as { videoInfos?: unknown } | null
  return Array.isArray(s?.videoInfos) ? s.videoInfos : []
}

function draftOf (snapshot: unknown): unknown {
  return (snapshot as { draft?: unknown } | null)?.draft ?? null
}

export class Timelines {
  constructor (private readonly nemo: NemoClient, private readonly sessions: Sessions) {}

  view (sessionId: string, state: SessionState['state']): TimelineView {
    const timeline = parseTimeline(state.draft)
    return {
      sessionId,
      summary: summarize(timeline),
      exportable: isExportable(state.draft),
      timeline,
      canvas: state.canvasConfig,
      assets: state.videoInfos,
      generatedMedia: state.generatedMedia
    }
  }

  async get (actor: Actor, sessionId: string): Promise<TimelineView> {
    const state = await this.sessions.withSession(actor, sessionId, async (ctx) => await this.fetch(ctx), { mint: false })
    return this.view(sessionId, state)
  }

  /** Reads the upstream state and stores it as the snapshot. */
  async fetch (ctx: SessionContext): Promise<SessionState['state']> {
    const { state } = await this.nemo.getState(ctx.lease.token, ctx.upstreamSessionId)
    await this.sessions.saveSnapshot(ctx.session.id, state)
    return state
  }

  /** Fetches the state and says what changed since the last snapshot. */
  async refresh (ctx: SessionContext): Promise<StateChange> {
    const before = ctx.session.snapshot
    const state = await this.fetch(ctx)
    ctx.session.snapshot = state as never
    const beforeTimeline = before === null ? null : parseTimeline(draftOf(before))
    const after = parseTimeline(state.draft)
    const diff = diffTimelines(beforeTimeline, after)
    const assetsAdded = Math.max(0, state.videoInfos.length - assetsOf(before).length)
    return { diff, changed: diff.changes.length > 0 || assetsAdded > 0, after, assetsAdded }
  }
}
