// Fair turns at the database pool. When all DB_POOL_MAX connections are busy, node-postgres
// queues whoever asks next, first come first served: one tenant's burst of work (its turns'
// starts and events) would make any other tenant's query wait behind all of it. Here each
// tenant waits in a lane of its own and a connection given back goes to the lanes in turn
// (round robin), so another tenant's query waits for about one query, not for the burst.
// Work done for no tenant (jobs, pollers, the admin API) shares one lane. A request enters its
// tenant's lane once its caller is known (plugins/db.ts); what it starts, a turn's run
// included, stays in it (AsyncLocalStorage follows promises and callbacks).
import { AsyncLocalStorage } from 'node:async_hooks'

const current = new AsyncLocalStorage<string>()

/** The lane of work done for no tenant. */
const NO_TENANT = ''

/** Runs `fn`, and everything it starts, in `tenantId`'s lane. */
export function inLane<T> (tenantId: string, fn: () => T): T {
  return current.run(tenantId, fn)
}

interface Waiter {
  go: () => void
  fail: (err: Error) => void
  timer: NodeJS.Timeout | undefined
}

/**
 * At most `max` connections checked out at once; past that, a checkout waits in its lane.
 * `timeoutMs`: a wait longer than this fails as node-postgres's own does (db/errors.ts maps it).
 */
export class Lanes {
  private busy = 0
  private readonly waiting = new Map<string, Waiter[]>()
  /** Lanes with someone waiting, in serving order (each once). */
  private readonly turn: string[] = []

  constructor (private readonly max: number, private readonly timeoutMs?: number) {}

  /** Undefined when a connection may be taken now; else a promise of it (or of the timeout). */
  enter (): Promise<void> | undefined {
    if (this.busy < this.max && this.turn.length === 0) {
      this.busy++
      return undefined
    }
    const lane = current.getStore() ?? NO_TENANT
    return new Promise<void>((resolve, reject) => {
      const waiter: Waiter = { go: resolve, fail: reject, timer: undefined }
      if (this.timeoutMs !== undefined && this.timeoutMs > 0) {
        waiter.timer = setTimeout(() => { this.drop(lane, waiter) }, this.timeoutMs)
        waiter.timer.unref()
      }
      const queue = this.waiting.get(lane)
      if (queue !== undefined) {
        queue.push(waiter)
      } else {
        this.waiting.set(lane, [waiter])
        this.turn.push(lane)
      }
    })
  }

  /** A checkout ended (its connection given back, or never had): the next lane's first waiter goes. */
  leave (): void {
    this.busy--
    const lane = this.turn.shift()
    if (lane === undefined) return
    const queue = this.waiting.get(lane)!
    const waiter = queue.shift()!
    if (queue.length === 0) this.waiting.delete(lane)
    else this.turn.push(lane)
    clearTimeout(waiter.timer)
    this.busy++
    waiter.go()
  }

  /** Checkouts waiting, all lanes together. */
  get waitingCount (): number {
    let n = 0
    for (const queue of this.waiting.values()) n += queue.length
    return n
  }

  private drop (lane: string, waiter: Waiter): void {
    const queue = this.waiting.get(lane)
    const at = queue?.indexOf(waiter) ?? -1
    if (queue === undefined || at === -1) return
    queue.splice(at, 1)
    if (queue.length === 0) {
      this.waiting.delete(lane)
      this.turn.splice(this.turn.indexOf(lane), 1)
    }
    waiter.fail(new Error('timeout exceeded when trying to connect'))
  }
}
