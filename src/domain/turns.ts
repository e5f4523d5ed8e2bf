// Chat turns. A turn is a row, then a server-side run of the upstream's /run_sse that is not
// tied to the caller's connection: the caller may leave, the run goes on and writes every
// event to the log. One running turn per session (re-sending during a generation makes the
// upstream do and charge the work twice), enforced across instances by an advisory lock.
import type { Turn as TurnRow } from '../generated/prisma/client.ts'
import { gwError } from '../errors.ts'
import { after, pageOf, type Page } from './cursor.ts'
import type { Actor, DomainDeps } from './deps.ts'
import type { SessionEvents } from './events.ts'
import type { Sessions } from './sessions.ts'
import type { Timelines } from './timeline.ts'
import type { Credits } from './credits.ts'
import { TurnRunner } from './turn-runner.ts'

export type TurnStatus = 'running' | 'completed' | 'silent' | 'timed_out' | 'failed'

export interface TurnView {
  id: string
  sessionId: string
  text: string
  status: TurnStatus
  reply: string | null
  error: unknown
  startedAt: Date
  finishedAt: Date | null
}

export function turnView (t: TurnRow): TurnView {
  return { id: t.id, sessionId: t.sessionId, text: t.text, status: t.status, reply: t.reply, error: t.error, startedAt: t.startedAt, finishedAt: t.finishedAt }
}

export interface StartedTurn {
  turn: TurnView
  /** The log cursor just before the turn's first event: follow from here to see it all. */
  cursorBefore: bigint
}

export class Turns {
  private readonly running = new Map<string, { controller: AbortController, done: Promise<void> }>()
  private readonly runner: TurnRunner

  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly events: SessionEvents,
    timelines: Timelines,
    private readonly credits: Credits
  ) {
    this.runner = new TurnRunner(deps, sessions, events, timelines, credits)
  }

  async start (actor: Actor, sessionId: string, text: string): Promise<StartedTurn> {
    const session = await this.sessions.getRow(actor, sessionId)
    await this.credits.assertWithinBudget(actor.tenantId)
    const { prisma } = this.deps
    const turn = await prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('turn'), hashtext(${session.id}))`
      const busy = await tx.turn.findFirst({ where: { sessionId: session.id, status: 'running' }, select: { id: true, startedAt: true } })
      if (busy && Date.now() - busy.startedAt.getTime() < this.deps.config.TURN_TIMEOUT_MS + 60_000) {
        throw gwError('GW_ERR_TURN_IN_PROGRESS', `Turn ${busy.id} is still running in this session; wait for it to finish (sending again would make the upstream do and charge the work twice)`, {
          extensions: { turnId: busy.id }
        })
      }
      // a turn left "running" past its limit belongs to an instance that died: close it
      if (busy) await tx.turn.update({ where: { id: busy.id }, data: { status: 'timed_out', finishedAt: new Date(), error: { code: 'GW_ERR_UPSTREAM_TIMEOUT', message: 'The gateway instance running this turn stopped', reason: 'abandoned' } } })
      return await tx.turn.create({ data: { sessionId: session.id, text } })
    })
    const cursorBefore = await this.events.lastCursor(session.id)
    await this.events.append(session.id, 'turn.started', { turnId: turn.id, text }, turn.id)

    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error('turn timeout')), this.deps.config.TURN_TIMEOUT_MS)
    const done = this.runner.run(actor, turn, controller.signal)
      .catch((err: unknown) => this.deps.log.error({ err, turnId: turn.id }, 'turn runner crashed'))
      .finally(() => {
        clearTimeout(timer)
        this.running.delete(turn.id)
      })
    this.running.set(turn.id, { controller, done })
    return { turn: turnView(turn), cursorBefore }
  }

  async get (actor: Actor, sessionId: string, turnId: string): Promise<TurnView> {
    await this.sessions.getRow(actor, sessionId)
    const row = await this.deps.prisma.turn.findFirst({ where: { id: turnId, sessionId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Turn ${turnId} not found`)
    return turnView(row)
  }

  async list (actor: Actor, sessionId: string, opts: { cursor?: string, limit: number }): Promise<Page<TurnView>> {
    await this.sessions.getRow(actor, sessionId)
    const rows = await this.deps.prisma.turn.findMany({
      where: { sessionId, OR: after(opts.cursor, 'startedAt') },
      orderBy: [{ startedAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.startedAt, turnView)
  }

  /**
   * Closes turns that some instance left "running" when it died: past the turn limit no
   * instance can still be running them. Their sessions take new turns again.
   */
  async sweepAbandoned (): Promise<number> {
    const cutoff = new Date(Date.now() - this.deps.config.TURN_TIMEOUT_MS - 60_000)
    const stale = await this.deps.prisma.turn.findMany({ where: { status: 'running', startedAt: { lt: cutoff } }, select: { id: true, sessionId: true } })
    for (const turn of stale) {
      const { count } = await this.deps.prisma.turn.updateMany({
        where: { id: turn.id, status: 'running' },
        data: { status: 'timed_out', finishedAt: new Date(), error: { code: 'GW_ERR_UPSTREAM_TIMEOUT', message: 'The gateway instance running this turn stopped', reason: 'abandoned' } }
      })
      if (count === 1) await this.events.append(turn.sessionId, 'turn.failed', { turnId: turn.id, status: 'timed_out', error: { reason: 'abandoned' } }, turn.id)
    }
    return stale.length
  }

  /** Turns running in this process (for tests and graceful close). */
  get active (): number {
    return this.running.size
  }

  /** Waits for running turns to finish; after `graceMs` they are cut (and marked failed). */
  async close (graceMs = 10_000): Promise<void> {
    const all = [...this.running.values()]
    const timer = setTimeout(() => { for (const r of all) r.controller.abort(new Error('gateway shutting down')) }, graceMs)
    await Promise.allSettled(all.map(async r => await r.done))
    clearTimeout(timer)
  }
}
