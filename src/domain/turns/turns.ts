// Chat turns. A turn is a row, then a server-side run of the upstream's /run_sse that is not
// tied to the caller's connection: the caller may leave, the run goes on and writes every
// event to the log. One running turn per session (re-sending during a generation makes the
// upstream do and charge the work twice), enforced across instances by an advisory lock.
// A running turn is leased by the instance that runs it (renewed while it runs); when an
// instance dies, its turns' leases lapse and any instance closes them as interrupted, so a
// crash blocks a session for seconds, not for the turn's time limit.
import { randomUUID } from 'node:crypto'
import type { Prisma, Session as SessionRow, Turn as TurnRow } from '../../generated/prisma/client.ts'
import { gwError, type GatewayError } from '../../errors.ts'
import { after, pageOf, type Page } from '../common/index.ts'
import type { Actor, DomainDeps } from '../common/index.ts'
import { appendedView, type AppendedRow, type SessionEvents, type SessionEventView } from '../events/index.ts'
import type { Sessions } from '../sessions/index.ts'
import type { Timelines } from '../sessions/index.ts'
import type { Credits } from '../tokens/index.ts'
import { INTERRUPTED, ShuttingDown, TurnRunner } from './turn-runner.ts'
import { inSpan } from '../../observability/tracing.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import type { ObservableResult } from '@opentelemetry/api'
import { TurnAdmission } from './admission.ts'
import type { TurnView } from '../../schemas/turn.ts'
export type { TurnView } from '../../schemas/turn.ts'

function turnView (t: TurnRow): TurnView {
  return { id: t.id, sessionId: t.sessionId, text: t.text, status: t.status, reply: t.reply, error: t.error, startedAt: t.startedAt, finishedAt: t.finishedAt }
}

export interface StartedTurn {
  turn: TurnView
  /** The log cursor just before the turn's first event: follow from here to see it all. */
  cursorBefore: bigint
  /** Its first event, turn.started, as written (a follower can start with it: `SessionEvents.follow`'s `from`). */
  first: SessionEventView
}

class LeaseLost extends Error {}

/**
 * A turn's start in one round trip, a statement prepared once per connection (one implicit
 * transaction; migration `turn_functions`): under the session's turn lock, the session (if it
 * is this tenant's user's) and its running turn if any; the turn's row only if the session is
 * theirs, none runs and its token is not known to be out of credits; its turn.started only if
 * the row was written; the turn counted in the day's usage.
 */
const START = {
  name: 'gw_start_turn',
  text: `SELECT owned, session_row AS session, busy, exhausted, event_cursor::text AS cursor, prev_cursor::text AS prev
    FROM gw_start_turn($1::uuid, $2::uuid, $3::uuid, $4::uuid, $5, $6::uuid, $7::timestamptz, $8::timestamptz, $9::jsonb)`
}

interface StartAnswer { owned: boolean, session: Record<string, unknown> | null, busy: string | null, exhausted: boolean | null, cursor: string | null, prev: string | null }

type StartRow =
  | { outcome: 'not_found' }
  | { outcome: 'busy', busyTurn: string | null }
  | { outcome: 'exhausted', session: Record<string, unknown> }
  | { outcome: 'started', session: Record<string, unknown>, appended: AppendedRow }

/** The session row as `to_jsonb` gives it: its instants are UTC without a zone, as Prisma writes them. */
function sessionRowOf (json: Record<string, unknown>): SessionRow {
  return { ...json, createdAt: new Date(`${String(json.createdAt)}Z`), updatedAt: new Date(`${String(json.updatedAt)}Z`) } as unknown as SessionRow
}

export class Turns {
  private readonly running = new Map<string, { sessionId: string, controller: AbortController, done: Promise<void> }>()
  private readonly runner: TurnRunner
  /** This instance, as the owner of the turns it runs. */
  readonly instanceId = randomUUID()
  private renewer: NodeJS.Timeout | undefined
  private readonly admission: TurnAdmission
  private readonly observeInFlight: (result: ObservableResult) => void
  private readonly tenantsSeen = new Set<string>()

  constructor (
    private readonly deps: DomainDeps,
    private readonly sessions: Sessions,
    private readonly events: SessionEvents,
    timelines: Timelines,
    private readonly credits: Credits
  ) {
    this.runner = new TurnRunner(deps, sessions, events, timelines, credits)
    const metrics = domainMetrics()
    this.admission = new TurnAdmission(
      { instance: deps.config.TURNS_MAX_IN_FLIGHT, perTenant: deps.config.TURNS_MAX_IN_FLIGHT_PER_TENANT },
      (reason) => metrics.turnRefusals.add(1, { reason })
    )
    // every tenant that asked for a turn here keeps its series (at 0 when idle): a graph drops to 0, not to nothing
    this.observeInFlight = (result) => {
      const now = this.admission.inFlight()
      for (const tenant of this.tenantsSeen) result.observe(now.get(tenant) ?? 0, { tenant })
    }
    metrics.turnsInFlight.addCallback(this.observeInFlight)
  }

  /**
   * The refusal (503/429, counted) a turn of this tenant would get now, or null; takes no slot.
   * Asked as soon as the caller is known, before the request is read (routes/v1/turns).
   */
  refusalNow (tenantId: string): GatewayError | null {
    this.tenantsSeen.add(tenantId)
    return this.admission.refusal(tenantId)
  }

  /**
   * Admits the turn (or refuses it with 503/429 before anything is written), then writes it
   * and starts its run. The admission's slot is held until the run ends.
   */
  async start (actor: Actor, sessionId: string, text: string): Promise<StartedTurn> {
    this.tenantsSeen.add(actor.tenantId)
    const release = this.admission.admit(actor.tenantId)
    try {
      return await this.startAdmitted(actor, sessionId, text, release)
    } catch (err) {
      release()
      throw err
    }
  }

  private async startAdmitted (actor: Actor, sessionId: string, text: string, release: () => void): Promise<StartedTurn> {
    // the budget (cached) passes before anything is written; a 404 wins over its 402
    try {
      await this.credits.assertWithinBudget(actor.tenantId)
    } catch (err) {
      await this.sessions.getRow(actor, sessionId)
      throw err
    }
    // the lock's key is the id as stored (lowercase), however the caller spelled it
    const id = sessionId.toLowerCase()
    const turnId = randomUUID()
    const startedAt = new Date()
    const leaseUntil = this.leaseEnd()
    const payload = { turnId, text }
    const payloadJson = JSON.stringify(payload)
    const values = [id, actor.tenantId, actor.userId, turnId, text, this.instanceId, startedAt, leaseUntil, payloadJson]
    const attempt = async (): Promise<StartRow> => {
      const [found] = await this.deps.sql.prepared<StartAnswer>(START.name, START.text, values)
      if (found === undefined || !found.owned || found.session === null) return { outcome: 'not_found' }
      if (found.cursor === null && found.busy === null && found.exhausted === true) return { outcome: 'exhausted', session: found.session }
      if (found.cursor === null || found.prev === null) return { outcome: 'busy', busyTurn: found.busy }
      return { outcome: 'started', session: found.session, appended: { cursor: found.cursor, prev: found.prev } }
    }
    let row = await attempt()
    if (row.outcome === 'busy') {
      // a running turn whose lease lapsed (its instance died) is closed first, then once more
      const closed = await this.deps.prisma.$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('turn'), hashtext(${id}))`
        return await this.closeLapsedIn(tx, { sessionId: id })
      })
      for (const event of closed) this.events.publish(event)
      if (closed.length > 0) row = await attempt()
    }
    if (row.outcome === 'exhausted') {
      // a turn now would fail with 2001: 402 with the registration hint at once, not 202 then
      // turn.failed (this throws unless the token was revived in between; then once more)
      await this.credits.assertCreditsLeft(String(row.session.credentialId))
      row = await attempt()
    }
    if (row.outcome === 'not_found') throw gwError('GW_ERR_NOT_FOUND', `Session ${sessionId} not found`)
    if (row.outcome === 'exhausted') throw gwError('GW_ERR_CREDITS_EXHAUSTED', 'The upstream credits for this user are used up')
    if (row.outcome === 'busy') {
      throw gwError('GW_ERR_TURN_IN_PROGRESS', `Turn ${row.busyTurn} is still running in this session; wait for it to finish (sending again would make the upstream do and charge the work twice)`, {
        extensions: { turnId: row.busyTurn }
      })
    }
    const session = sessionRowOf(row.session)
    const turn: TurnRow = { id: turnId, sessionId: session.id, text, status: 'running', reply: null, error: null, startedAt, finishedAt: null, instanceId: this.instanceId, leaseUntil }
    const first = appendedView(session.id, turnId, 'turn.started', payload, payloadJson, startedAt, row.appended.cursor)
    this.events.publish(first, row.appended.prev)

    const controller = new AbortController()
    const timer = setTimeout(() => controller.abort(new Error('turn timeout')), this.deps.config.TURN_TIMEOUT_MS)
    const done = inSpan('turn', { 'nemo.tenant.id': actor.tenantId, 'nemo.session.id': session.id, 'nemo.turn.id': turn.id }, async () => await this.runner.run(actor, turn, controller.signal, session))
      .catch((err: unknown) => this.deps.log.error({ err, turnId: turn.id }, 'turn runner crashed'))
      .finally(() => {
        clearTimeout(timer)
        release()
        this.running.delete(turn.id)
        if (this.running.size === 0) this.stopRenewing()
      })
    this.running.set(turn.id, { sessionId: session.id, controller, done })
    this.startRenewing()
    // the turn's events all come after its turn.started
    return { turn: turnView(turn), cursorBefore: BigInt(first.cursor) - 1n, first }
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
   * Closes the turns whose owner stopped renewing their lease (it died or lost the
   * database): failed, reason "interrupted", with a turn.failed event for their followers.
   * Their sessions take new turns again. Run by every instance every quarter lease.
   */
  async sweepAbandoned (): Promise<number> {
    const closed = await this.deps.prisma.$transaction(async (tx) => await this.closeLapsedIn(tx, {}))
    for (const event of closed) this.events.publish(event)
    return closed.length
  }

  private async runningTurn (tx: Prisma.TransactionClient, sessionId: string): Promise<{ id: string } | null> {
    return await tx.turn.findFirst({ where: { sessionId, status: 'running' }, select: { id: true } })
  }

  /** The one way a lapsed turn is closed: at a turn's start (its session) and by the sweep. */
  private async closeLapsedIn (tx: Prisma.TransactionClient, where: { sessionId?: string }): Promise<SessionEventView[]> {
    const now = new Date()
    // rows from before leases existed have none: their time limit stands for it
    const legacyCutoff = new Date(now.getTime() - this.deps.config.TURN_TIMEOUT_MS - 60_000)
    const closed = await tx.turn.updateManyAndReturn({
      where: { ...where, status: 'running', OR: [{ leaseUntil: { lt: now } }, { leaseUntil: null, startedAt: { lt: legacyCutoff } }] },
      data: { status: 'failed', finishedAt: now, error: INTERRUPTED, leaseUntil: null },
      select: { id: true, sessionId: true, instanceId: true }
    })
    const events: SessionEventView[] = []
    for (const turn of closed) {
      this.deps.log.warn({ turnId: turn.id, instanceId: turn.instanceId }, 'closed a turn whose instance stopped')
      events.push(await this.events.appendIn(tx, turn.sessionId, 'turn.failed', { turnId: turn.id, status: 'failed', error: INTERRUPTED }, turn.id))
    }
    return events
  }

  private leaseEnd (): Date {
    return new Date(Date.now() + this.deps.config.TURN_LEASE_MS)
  }

  private startRenewing (): void {
    if (this.renewer !== undefined) return
    this.renewer = setInterval(() => {
      this.renew().catch((err: unknown) => this.deps.log.warn({ err }, 'could not renew the leases of running turns'))
    }, Math.max(100, Math.floor(this.deps.config.TURN_LEASE_MS / 4)))
    this.renewer.unref()
  }

  private stopRenewing (): void {
    clearInterval(this.renewer)
    this.renewer = undefined
  }

  /** Extends the leases of this instance's running turns; a turn another instance closed is stopped. */
  private async renew (): Promise<void> {
    const ids = [...this.running.keys()]
    if (ids.length === 0) return
    const { count } = await this.deps.prisma.turn.updateMany({
      where: { id: { in: ids }, status: 'running', instanceId: this.instanceId },
      data: { leaseUntil: this.leaseEnd() }
    })
    if (count === ids.length) return
    const kept = await this.deps.prisma.turn.findMany({ where: { id: { in: ids }, status: 'running', instanceId: this.instanceId }, select: { id: true } })
    const keep = new Set(kept.map((k) => k.id))
    for (const id of ids) {
      if (!keep.has(id)) this.running.get(id)?.controller.abort(new LeaseLost('the turn was closed as interrupted by another instance'))
    }
  }

  /**
   * Stops this instance's running turns in these sessions (their data is about to be deleted)
   * and waits up to `graceMs` for them to end; they end failed, as interrupted.
   */
  async stopIn (sessionIds: string[], graceMs: number): Promise<void> {
    const ids = new Set(sessionIds)
    const stopping = [...this.running.values()].filter((r) => ids.has(r.sessionId))
    for (const r of stopping) r.controller.abort(new ShuttingDown())
    let timer: NodeJS.Timeout | undefined
    const waited = new Promise<void>((resolve) => { timer = setTimeout(resolve, graceMs) })
    await Promise.race([Promise.allSettled(stopping.map(async (r) => await r.done)), waited])
    clearTimeout(timer)
  }

  /** Turns running in this process (for tests and graceful close). */
  get active (): number {
    return this.running.size
  }

  /** Waits for running turns to finish; after `graceMs` they are cut (and marked failed). */
  async close (graceMs = 10_000): Promise<void> {
    const all = [...this.running.values()]
    const timer = setTimeout(() => { for (const r of all) r.controller.abort(new ShuttingDown()) }, graceMs)
    await Promise.allSettled(all.map(async r => await r.done))
    clearTimeout(timer)
    this.stopRenewing()
    domainMetrics().turnsInFlight.removeCallback(this.observeInFlight)
  }
}
