// One shared tail per followed session on this instance. The followers of a session that are
// caught up are its members: on each bus wake-up the tail reads the log once, from its own
// position, and hands the same page (shared arrays, no copies) to every member's queue. A
// follower that is behind (a replay from an old cursor, or one that fell out) reads the log
// itself, page by page, until it has reached the tail's position, then joins. The log stays
// the source of truth: a wake-up only says "read"; a member skips rows it already has.
//
// A slow consumer never holds the others up: pages are handed out synchronously, never
// awaited. Its queue is bounded (FOLLOWER_QUEUE_LIMIT events); past that it leaves the tail,
// drops its queue and reads the log itself from the last event it consumed, as a late joiner.
// A failed tail read does the same to every member, so each retries (or fails) on its own.
import type { EventBus, SessionEventView } from '../common/index.ts'

export const TAIL_PAGE = 500
/** Events a member may have queued and not consumed before it leaves the tail. */
export const FOLLOWER_QUEUE_LIMIT = 2 * TAIL_PAGE

export interface LogReader {
  list: (sessionId: string, after: bigint, limit: number) => Promise<SessionEventView[]>
}

/**
 * One follower's place in a session: what it has consumed (`last`), what it holds but has not
 * consumed (`pages`), and the cursor of the newest row it holds (`through`). It is the
 * abort listener of its signal (`handleEvent`), so following costs no closure per follower.
 */
export class Follower {
  last: bigint
  through: bigint
  member = false
  private pages: SessionEventView[][] = []
  private offset = 0
  private queued = 0
  private wake: (() => void) | undefined = undefined

  constructor (after: bigint) {
    this.last = after
    this.through = after
  }

  /** The next event held and not consumed, if any. */
  shift (): SessionEventView | undefined {
    const page = this.pages[0]
    if (page === undefined) return undefined
    const event = page[this.offset++]!
    this.queued--
    if (this.offset === page.length) {
      this.pages.shift()
      this.offset = 0
    }
    this.last = BigInt(event.cursor)
    return event
  }

  /**
   * Takes the rows of `page` after `through` (all of them unless it overlaps what this
   * follower holds). Returns false, holding nothing more, when that would pass the bound.
   */
  take (page: SessionEventView[], first: bigint, last: bigint, limit = Infinity): boolean {
    if (last <= this.through) return true
    const rows = first > this.through ? page : page.filter(e => BigInt(e.cursor) > this.through)
    if (this.queued + rows.length > limit) return false
    this.pages.push(rows)
    this.queued += rows.length
    this.through = last
    this.wake?.()
    return true
  }

  /** Forgets what it holds: it will read the log again after what it consumed. */
  drop (): void {
    this.pages = []
    this.offset = 0
    this.queued = 0
    this.through = this.last
    this.member = false
    this.wake?.()
  }

  get idle (): boolean { return this.queued === 0 }

  async waitForRows (): Promise<void> {
    await new Promise<void>(resolve => { this.wake = resolve })
    this.wake = undefined
  }

  /** The signal aborted. */
  handleEvent (): void { this.wake?.() }
}

export class SessionTail {
  /** The newest cursor handed to the members; the next read starts after it. */
  position = 0n
  /** Bus wake-ups so far: a follower compares it before and after its own read. */
  wakeups = 0
  /** Followers of the session, members or catching up: at zero the tail goes away. */
  followers = 0
  readonly members = new Set<Follower>()
  private reading = false
  private pending = false
  private readonly unsubscribe: () => void

  constructor (readonly sessionId: string, private readonly log: LogReader, bus: EventBus) {
    // taken before any follower reads, so an event committed after that read wakes the tail
    this.unsubscribe = bus.subscribe(sessionId, this.onWake)
  }

  private readonly onWake = (event?: SessionEventView, prev?: string): void => {
    this.wakeups++
    if (this.members.size === 0) return
    // an event the members hold already (this instance's own, heard back through Redis)
    if (event !== undefined && !this.reading && BigInt(event.cursor) <= this.position) return
    // The event right after what the members hold (its appender read `prev` under the
    // session's lock): handed over as it is, without a read. Anything else is read from the log.
    if (event !== undefined && !this.reading && prev !== undefined && prev === this.position.toString()) {
      const cursor = BigInt(event.cursor)
      // through Redis the instant arrives as text
      const page = [event.createdAt instanceof Date ? event : { ...event, createdAt: new Date(event.createdAt) }]
      this.position = cursor
      for (const follower of this.members) {
        if (!follower.take(page, cursor, cursor, FOLLOWER_QUEUE_LIMIT)) this.leave(follower)
      }
      return
    }
    this.wakeUp()
  }

  /**
   * A follower that holds every row through `follower.through` joins, unless the tail is
   * already past that (it reads on by itself then). `seen` is `wakeups` when its read began:
   * a wake-up during that read may be for a row the read missed, so the tail reads once more.
   */
  join (follower: Follower, seen: number): boolean {
    if (this.members.size === 0 && !this.reading) {
      // nobody relies on the position of an idle tail: start it where this follower is
      this.position = follower.through
    } else if (follower.through < this.position) {
      return false
    }
    this.members.add(follower)
    follower.member = true
    if (this.wakeups !== seen) this.wakeUp()
    return true
  }

  /**
   * A new follower whose cursor is at or past a live tail's position joins without a read:
   * the tail will hand it every row after its position (the ones it already has are skipped).
   */
  joinLive (follower: Follower): boolean {
    if (this.members.size === 0 || follower.through < this.position) return false
    this.members.add(follower)
    follower.member = true
    return true
  }

  leave (follower: Follower): void {
    if (this.members.delete(follower)) follower.drop()
  }

  /** Releases the bus subscription; the tail must not be used afterwards. */
  close (): void {
    for (const follower of this.members) follower.drop()
    this.members.clear()
    this.unsubscribe()
  }

  /** Reads now, or once more after the read in flight (never rejects: `read` catches). */
  private wakeUp (): void {
    this.read().catch(() => {})
  }

  private async read (): Promise<void> {
    if (this.reading) {
      this.pending = true
      return
    }
    this.reading = true
    try {
      do {
        this.pending = false
        let length = TAIL_PAGE
        while (length === TAIL_PAGE && this.members.size > 0) {
          const page = await this.log.list(this.sessionId, this.position, TAIL_PAGE)
          length = page.length
          if (length === 0) break
          const first = BigInt(page[0]!.cursor)
          const last = BigInt(page[length - 1]!.cursor)
          this.position = last
          for (const follower of this.members) {
            if (!follower.take(page, first, last, FOLLOWER_QUEUE_LIMIT)) this.leave(follower)
          }
        }
      } while (this.pending && this.members.size > 0)
    } catch {
      // every member reads the log itself: each gets the error, or its rows, on its own
      for (const follower of this.members) this.leave(follower)
    } finally {
      this.reading = false
    }
  }
}
