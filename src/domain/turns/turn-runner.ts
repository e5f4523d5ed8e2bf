// One run of a chat turn against the upstream's /run_sse, and the upstream's quirks
// (contract §4.1): heartbeats keep it alive; a turn with no text (a silent edit) is
// explained by diffing the state; heartbeat-only for too long, a fully silent stream
// (TURN_SILENCE_MS, no byte at all) or a broken stream is recovered by polling the state
// (30 s, 60 s, ...; failed after 5 unchanged); a trailing "temporary issue" after a normal
// answer is a notice, not a failure; an ask_question is a question the caller answers with
// the next turn; GUI instructions are annotated with the API action to take instead. The
// upstream stream is always released when the run ends.
import type { Session as SessionRow, Turn as TurnRow } from '../../generated/prisma/client.ts'
import { isGatewayError } from '../../errors.ts'
import { annotateGuiText } from '../../nemo/intents.ts'
import { isNemoError } from '../../nemo/errors.ts'
import { summarize } from '../../nemo/draft.ts'
import type { NemoEvent } from '../../nemo/events.ts'
import type { Actor, DomainDeps } from '../common/index.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import type { SessionEvents } from '../events/index.ts'
import type { SessionContext, Sessions } from '../sessions/index.ts'
import type { Timelines } from '../sessions/index.ts'
import type { Credits } from '../tokens/index.ts'

/** Why a running turn is stopped when its instance shuts down: it ends as interrupted. */
export class ShuttingDown extends Error {
  constructor () {
    super('the gateway is shutting down')
    this.name = 'ShuttingDown'
  }
}

export const INTERRUPTED = {
  code: 'GW_ERR_UNAVAILABLE',
  message: 'The gateway instance running this turn stopped before the turn ended; send the message again',
  reason: 'interrupted'
}

const TEMPORARY_ISSUE = /temporary issue|暂时的问题|临时问题/i
const MAX_TOOL_PAYLOAD = 4000

interface Outcome {
  status: 'completed' | 'silent' | 'timed_out' | 'failed'
  reply: string | null
  error: Record<string, unknown> | null
}

class Stalled extends Error {}

/** Why a finished run's upstream stream is released: one instance for all runs (no stack built per turn). */
const RELEASED = new DOMException('the turn\'s upstream stream was released', 'AbortError')

/**
 * A turn's end in one round trip (migration `turn_functions`): its row closed, only if it still
 * runs and is still this instance's, and its last event appended in the same transaction.
 */
const FINISH = {
  name: 'gw_finish_turn',
  text: `SELECT event_cursor::text AS cursor, prev_cursor::text AS prev
    FROM gw_finish_turn($1::uuid, $2::uuid, $3, $4, $5::jsonb, $6::timestamptz, $7::uuid, $8, $9::jsonb)`
}

/** Keeps tool args/results in the log readable: big payloads are cut, not dropped. */
function clip (value: unknown): unknown {
  const text = JSON.stringify(value ?? null)
  return text.length <= MAX_TOOL_PAYLOAD ? value : { truncated: true, preview: text.slice(0, MAX_TOOL_PAYLOAD) }
}

export class TurnRunner {
  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly events: SessionEvents,
    private readonly timelines: Timelines,
    private readonly credits: Credits
  ) {}

  /** `session`: the row the turn's start read, so the run does not read it again. */
  async run (actor: Actor, turn: TurnRow, signal: AbortSignal, session?: SessionRow): Promise<void> {
    const emit = async (type: string, payload: Record<string, unknown>) => {
      return await this.events.append(turn.sessionId, type, { turnId: turn.id, ...payload }, turn.id)
    }
    let outcome: Outcome
    let lease: SessionContext['lease'] | undefined
    try {
      outcome = await this.sessions.withSession(actor, turn.sessionId, async (ctx) => { lease = ctx.lease; return await this.stream(ctx, turn, signal, emit) }, { row: session })
    } catch (err) {
      outcome = signal.reason instanceof ShuttingDown
        ? { status: 'failed', reply: null, error: INTERRUPTED }
        : { status: signal.aborted ? 'timed_out' : 'failed', reply: null, error: this.describe(err, signal) }
    }
    const metrics = domainMetrics()
    metrics.turns.add(1, { status: outcome.status })
    metrics.turnSeconds.record((Date.now() - turn.startedAt.getTime()) / 1000, { status: outcome.status })
    // Its row is closed and its last event appended, in one round trip: only a turn still
    // running and still ours (one whose lease lapsed, its instance having lost the database
    // for a while, was closed as interrupted and its followers were told so). What the turn
    // cost is counted meanwhile, off its end's path (a read of its token's balance, shared with
    // the other turns on that token ending meanwhile: Credits.chargeAfter): the tenant's next
    // budget check and usage read on this instance wait for it (Credits.settled), and the run
    // ends once it is counted.
    const charged = lease === undefined ? undefined : this.credits.counting(actor.tenantId, this.credits.chargeAfter(actor, lease))
    const ok = outcome.status === 'completed' || outcome.status === 'silent'
    const type = ok ? 'turn.completed' : 'turn.failed'
    const payload = ok ? { turnId: turn.id, status: outcome.status, reply: outcome.reply } : { turnId: turn.id, status: outcome.status, error: outcome.error }
    const error = outcome.error === null ? null : JSON.stringify(outcome.error)
    const last = await this.events.appendWith(turn.sessionId, type, payload, turn.id, FINISH, (json, at) =>
      [turn.id, turn.instanceId, outcome.status, outcome.reply, error, at, turn.sessionId, type, json])
    await charged
    if (last === null) this.deps.log.warn({ turnId: turn.id }, 'a turn ended after another instance closed it as interrupted')
  }

  private describe (err: unknown, signal: AbortSignal): Record<string, unknown> {
    if (signal.aborted) return { code: 'GW_ERR_UPSTREAM_TIMEOUT', message: 'The turn ran past its time limit and was stopped' }
    if (isNemoError(err)) return { ...err.extensions, code: err.code, message: err.message, upstream: err.kind }
    if (isGatewayError(err) && err.statusCode < 500) return { ...err.extensions, code: err.code, message: err.message }
    if (isGatewayError(err)) return { code: err.code, message: err.title }
    this.deps.log.error({ err }, 'a turn failed inside the gateway')
    return { code: 'GW_ERR_INTERNAL', message: 'The turn failed inside the gateway' }
  }

  private async stream (ctx: SessionContext, turn: TurnRow, signal: AbortSignal, emit: (type: string, payload: Record<string, unknown>) => Promise<unknown>): Promise<Outcome> {
    const { config, nemo } = this.deps
    const texts: string[] = []
    let toolCalls = 0
    let asked = false
    let upstreamError: string | null = null
    let lastHeartbeatEvent = 0
    let broken: unknown = null

    // the upstream stream is cut when it only heartbeats for too long, or the turn ends
    const local = new AbortController()
    const stop = () => local.abort(signal.reason)
    signal.addEventListener('abort', stop, { once: true })
    let stallTimer: NodeJS.Timeout | undefined
    const armStall = () => {
      clearTimeout(stallTimer)
      stallTimer = setTimeout(() => local.abort(new Stalled('heartbeats only')), config.TURN_HEARTBEAT_ONLY_MS)
    }
    // a first turn has no snapshot to diff against yet: take the baseline now
    if (ctx.session.snapshot === null) await this.timelines.refresh(ctx)
    armStall()

    try {
      for await (const event of nemo.runSse(ctx.lease.token, { sessionId: ctx.upstreamSessionId, text: turn.text, signal: local.signal })) {
        if (event.type !== 'heartbeat') armStall()
        await this.record(event, {
          emit,
          sessionId: ctx.session.id,
          onText: (t) => texts.push(t),
          hadText: () => texts.length > 0,
          onTool: () => { toolCalls++ },
          onQuestion: () => { asked = true },
          onError: (m) => { upstreamError = m },
          heartbeatDue: () => {
            const now = Date.now()
            if (now - lastHeartbeatEvent < config.HEARTBEAT_EVENT_INTERVAL_MS) return false
            lastHeartbeatEvent = now
            return true
          }
        })
      }
    } catch (err) {
      if (signal.aborted) throw err
      if (!(local.signal.reason instanceof Stalled) && !isNemoError(err, 'stream_broken') && !isNemoError(err, 'stream_silent')) throw err
      broken = local.signal.reason instanceof Stalled ? local.signal.reason : err
    } finally {
      clearTimeout(stallTimer)
      signal.removeEventListener('abort', stop)
      if (!local.signal.aborted) local.abort(RELEASED)
    }

    if (broken !== null) return await this.recover(ctx, signal, emit, broken instanceof Stalled ? 'heartbeat_only' : isNemoError(broken, 'stream_silent') ? 'silent' : 'stream_broken')

    const reply = texts.length > 0 ? texts.join('\n\n') : null
    if (upstreamError !== null && reply === null) {
      return { status: 'failed', reply: null, error: { code: 'GW_ERR_UPSTREAM_BAD_REQUEST', message: 'The upstream agent reported an error', upstream: upstreamError } }
    }
    if (toolCalls > 0 || reply === null) {
      const change = await this.timelines.refresh(ctx)
      if (change.changed) {
        await emit('state.changed', { summary: change.diff.summary, changes: change.diff.changes, timeline: summarize(change.after), assetsAdded: change.assetsAdded })
      }
      if (reply === null && !asked) return { status: 'silent', reply: null, error: null }
    }
    return { status: 'completed', reply, error: null }
  }

  private async record (event: NemoEvent, h: {
    emit: (type: string, payload: Record<string, unknown>) => Promise<unknown>
    onText: (t: string) => void
    hadText: () => boolean
    onTool: () => void
    onQuestion: () => void
    onError: (m: string) => void
    heartbeatDue: () => boolean
    sessionId: string
  }): Promise<void> {
    switch (event.type) {
      case 'text': {
        if (TEMPORARY_ISSUE.test(event.text) && h.hadText()) {
          await h.emit('notice', { kind: 'temporary_issue', text: event.text, ignorable: true, why: 'The upstream often appends this after a normal answer; the answer stands' })
          return
        }
        h.onText(event.text)
        const actions = annotateGuiText(event.text, h.sessionId)
        await h.emit('text', { text: event.text, ...(actions.length > 0 ? { actions } : {}) })
        return
      }
      case 'tool_call':
        h.onTool()
        await h.emit('tool.started', { name: event.name, id: event.id ?? null, args: clip(event.args) })
        return
      case 'tool_result':
        await h.emit('tool.finished', { name: event.name, id: event.id ?? null, result: clip(event.result) })
        return
      case 'heartbeat':
        if (h.heartbeatDue()) await h.emit('heartbeat', { at: new Date().toISOString() })
        return
      case 'ask_question':
        h.onQuestion()
        await h.emit('question', { questions: event.questions, title: event.title ?? null, id: event.id ?? null, answerWith: 'Send the answer as the next turn of this session' })
        return
      case 'error':
        h.onError(event.message)
        await h.emit('upstream.error', { message: event.message, code: event.code ?? null })
        break
      case 'state_delta':
        // the real state is read (and diffed) when the turn ends
        break
    }
  }

  /**
   * The documented recovery (contract §4.1): wait, read the state, and if it moved since the
   * turn began the work was done; after `TURN_RECOVERY_POLLS` unchanged reads, give up.
   */
  private async recover (ctx: SessionContext, signal: AbortSignal, emit: (type: string, payload: Record<string, unknown>) => Promise<unknown>, reason: string): Promise<Outcome> {
    const { TURN_RECOVERY_POLL_MS: base, TURN_RECOVERY_POLLS: polls } = this.deps.config
    await emit('turn.recovering', { reason, polls, firstWaitMs: base })
    for (let i = 0; i < polls; i++) {
      await sleep(i === 0 ? base : 2 * base, signal)
      const change = await this.timelines.refresh(ctx)
      if (change.changed) {
        await emit('state.changed', { summary: change.diff.summary, changes: change.diff.changes, timeline: summarize(change.after), assetsAdded: change.assetsAdded, recovered: true })
        return { status: 'completed', reply: null, error: null }
      }
    }
    const what = reason === 'heartbeat_only' ? 'sent only heartbeats' : reason === 'silent' ? 'went silent' : 'broke'
    return { status: 'failed', reply: null, error: { code: 'GW_ERR_UPSTREAM_UNAVAILABLE', message: `The upstream stream ${what} and the state did not change in ${polls} checks`, reason } }
  }
}

async function sleep (ms: number, signal: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => { signal.removeEventListener('abort', onAbort); resolve() }, ms)
    const onAbort = () => { clearTimeout(timer); reject(signal.reason) }
    signal.addEventListener('abort', onAbort, { once: true })
  })
}
