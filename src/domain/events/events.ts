// The session event log. Every event a client can see is a row here first (with a monotonic
// bigserial cursor), then published; streams and subscriptions replay from a cursor and
// follow live, so nothing is pushed that cannot be resumed.
import type { Prisma } from '../../generated/prisma/client.ts'
import type { Db } from '../common/index.ts'
import type { Sql } from '../../db/client.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import { Follower, SessionTail, TAIL_PAGE } from './session-tail.ts'
import type { EventBus, SessionEventView } from '../common/index.ts'

export type { EventBus, EventListener, SessionEventView } from '../common/index.ts'
export { localBus } from '../common/index.ts'

/**
 * One round trip per event, a statement prepared once per connection: the session's event
 * lock, then the insert, which reads the session's cursor before it (`prev_cursor`) under that
 * lock (migration `turn_functions`). Cursors come back as text; the payload and the instant
 * are not read back. Parameters: session, turn, type, payload (JSON text), instant.
 */
const APPEND = { name: 'gw_append_event', text: 'SELECT event_cursor::text AS cursor, prev_cursor::text AS prev FROM gw_append_event($1::uuid, $2::uuid, $3, $4::jsonb, $5::timestamptz)' }

/** What an append answers: the event's cursor and the session's one before it. */
export interface AppendedRow { cursor: string, prev: string }

/**
 * The stored view of an event appended with `payloadJson` (the payload as written): the
 * payload object itself, and its text kept for the streams (`eventData`), so it is serialized once.
 */
export function appendedView (sessionId: string, turnId: string | null, type: string, payload: Record<string, unknown>, payloadJson: string, createdAt: Date, cursor: string): SessionEventView {
  serialized.set(payload, payloadJson)
  return { cursor, sessionId, turnId, type, payload, createdAt }
}

/** Payload objects appended here, with the JSON they were written as. */
const serialized = new WeakMap<object, string>()

/**
 * The event as the streams send it (SSE `data:`), built around the payload's JSON as it was
 * written when this instance appended the event (else serialized now).
 */
export function eventData (event: SessionEventView): string {
  const payload = (typeof event.payload === 'object' && event.payload !== null ? serialized.get(event.payload) : undefined) ?? JSON.stringify(event.payload)
  const createdAt = event.createdAt instanceof Date ? event.createdAt.toISOString() : String(event.createdAt)
  return `{"cursor":${JSON.stringify(event.cursor)},"sessionId":${JSON.stringify(event.sessionId)},"type":${JSON.stringify(event.type)},"turnId":${JSON.stringify(event.turnId)},"payload":${payload},"createdAt":${JSON.stringify(createdAt)}}`
}

// the instant is stored as UTC without a zone (as Prisma writes it); ordered by the bigint, not by its text
const LIST = `SELECT cursor::text AS cursor, "sessionId", "turnId", type, payload, "createdAt" AT TIME ZONE 'UTC' AS "createdAt"
  FROM "SessionEvent" WHERE "sessionId" = $1::uuid AND cursor > $2::bigint ORDER BY "SessionEvent".cursor ASC LIMIT $3`

function eventView (row: { cursor: bigint, sessionId: string, turnId: string | null, type: string, payload: unknown, createdAt: Date }): SessionEventView {
  return { cursor: row.cursor.toString(), sessionId: row.sessionId, turnId: row.turnId, type: row.type, payload: row.payload, createdAt: row.createdAt }
}

/** The metric attributes of each event type, made once (not an object per event). */
const typeAttrs = new Map<string, { type: string }>()

/** Sessions whose last event published here is remembered (see `follow`'s `from`): the newest ones. */
const RECENT_SESSIONS = 10_000

export class SessionEvents {
  // appends of one session are queued here, and serialised across instances by an advisory
  // lock, so cursors commit in order (a follower that saw N must never later find N-1)
  private readonly tails = new Map<string, Promise<unknown>>()
  private readonly followed = new Map<string, SessionTail>()
  /** The cursor of the last event this instance published, by session (the newest sessions). */
  private readonly recent = new Map<string, string>()

  constructor (private readonly prisma: Db, readonly bus: EventBus, private readonly sql: Sql) {}

  async append (sessionId: string, type: string, payload: Record<string, unknown>, turnId: string | null = null): Promise<SessionEventView> {
    return (await this.appendWith(sessionId, type, payload, turnId, APPEND, (json, at) => [sessionId, turnId, type, json, at]))!
  }

  /**
   * Appends through `statement`, a prepared statement that appends the event together with a
   * write that must commit with it (a turn's end), and answers its `cursor` and `prev`, or
   * null ones when it wrote nothing: then nothing is published and this answers null.
   * `values(payloadJson, createdAt)` gives its parameters.
   */
  async appendWith (sessionId: string, type: string, payload: Record<string, unknown>, turnId: string | null, statement: { name: string, text: string }, values: (payloadJson: string, createdAt: Date) => unknown[]): Promise<SessionEventView | null> {
    const previous = this.tails.get(sessionId) ?? Promise.resolve()
    const next = previous.catch(() => {}).then(async () => {
      const started = performance.now()
      // Across instances, the lock makes cursors of one session commit in the order they are
      // drawn, so a follower never sees N+1 before N; the cursor before (`prev`) is read under
      // it, so it is the session's last committed one. One prepared statement, one round
      // trip: this runs for every event of every turn.
      const createdAt = new Date()
      const payloadJson = JSON.stringify(payload)
      const [row] = await this.sql.prepared<{ cursor: string | null, prev: string | null }>(statement.name, statement.text, values(payloadJson, createdAt))
      domainMetrics().eventAppendSeconds.record((performance.now() - started) / 1000)
      if (row?.cursor == null || row.prev == null) return null
      return { event: appendedView(sessionId, turnId, type, payload, payloadJson, createdAt, row.cursor), prev: row.prev }
    })
    this.tails.set(sessionId, next)
    try {
      const appended = await next
      if (appended === null) return null
      this.publish(appended.event, appended.prev)
      return appended.event
    } finally {
      if (this.tails.get(sessionId) === next) this.tails.delete(sessionId)
    }
  }

  /**
   * Appends inside the caller's transaction, for events that must commit together with a
   * state change (an export's final status and its webhook messages). Publish the returned
   * event after the commit.
   */
  async appendIn (tx: Prisma.TransactionClient, sessionId: string, type: string, payload: Record<string, unknown>, turnId: string | null = null): Promise<SessionEventView> {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext('events'), hashtext(${sessionId}))`
    const row = await tx.sessionEvent.create({ data: { sessionId, type, payload: payload as Prisma.InputJsonValue, turnId } })
    return eventView(row)
  }

  /** Wakes the followers of a committed event (`prev`: see EventListener). */
  publish (event: SessionEventView, prev?: string): void {
    let attrs = typeAttrs.get(event.type)
    if (attrs === undefined) typeAttrs.set(event.type, attrs = { type: event.type })
    domainMetrics().sessionEvents.add(1, attrs)
    this.recent.delete(event.sessionId)
    this.recent.set(event.sessionId, event.cursor)
    if (this.recent.size > RECENT_SESSIONS) this.recent.delete(this.recent.keys().next().value!)
    this.bus.publish(event, prev)
  }

  /** The newest cursor of a session (0 when it has no events). */
  async lastCursor (sessionId: string): Promise<bigint> {
    const row = await this.prisma.sessionEvent.findFirst({ where: { sessionId }, orderBy: { cursor: 'desc' }, select: { cursor: true } })
    return row?.cursor ?? 0n
  }

  /**
   * Replays the log after `after`, then follows it live, until the signal aborts: every
   * event exactly once, in cursor order. Followers of one session share its tail
   * (session-tail.ts): one log read per wake-up for all that are caught up; one that is
   * behind reads the log itself until it reaches the tail, then joins it.
   *
   * `from`: an event this instance appended and published a moment ago (a turn's
   * turn.started), the first one after `after`. While it is still the last event published
   * here for its session, the follower starts with it and joins the tail without reading the
   * log. An event written elsewhere in between is not missed: the next event written here
   * (the turn's own, whose end is always written by the instance that runs it) does not follow
   * what the tail holds, so the tail reads the log then.
   */
  async * follow (sessionId: string, after: bigint, signal: AbortSignal, from?: SessionEventView): AsyncGenerator<SessionEventView> {
    let tail = this.followed.get(sessionId)
    if (!tail) this.followed.set(sessionId, tail = new SessionTail(sessionId, this, this.bus))
    tail.followers++
    const follower = new Follower(after)
    if (from !== undefined && this.recent.get(sessionId) === from.cursor && BigInt(from.cursor) > after) {
      const cursor = BigInt(from.cursor)
      follower.take([from], cursor, cursor)
      tail.join(follower, tail.wakeups)
    } else {
      tail.joinLive(follower)
    }
    signal.addEventListener('abort', follower)
    try {
      while (!signal.aborted) {
        const event = follower.shift()
        if (event) {
          yield event
        } else if (follower.member) {
          await follower.waitForRows()
        } else {
          const seen = tail.wakeups
          const page = await this.list(sessionId, follower.through, TAIL_PAGE)
          if (page.length > 0) follower.take(page, BigInt(page[0]!.cursor), BigInt(page[page.length - 1]!.cursor))
          if (page.length < TAIL_PAGE) tail.join(follower, seen)
        }
      }
    } finally {
      signal.removeEventListener('abort', follower)
      tail.leave(follower)
      if (--tail.followers === 0) {
        tail.close()
        this.followed.delete(sessionId)
      }
    }
  }

  /** Sessions with a live tail on this instance (each holds one bus subscription). */
  get followedSessions (): number {
    return this.followed.size
  }

  /** The log after `after`, oldest first: plain SQL on the pool (every turn's stream starts with a read). */
  async list (sessionId: string, after: bigint, limit: number): Promise<SessionEventView[]> {
    return await this.sql.prepared<SessionEventView>('gw_list_events', LIST, [sessionId, after.toString(), limit])
  }
}
