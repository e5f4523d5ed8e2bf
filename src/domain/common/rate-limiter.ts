// Spaces calls out to at most `perSecond`, in the order they ask: each caller gets the next
// free slot. It bounds what one instance sends upstream however much work is waiting.
import { setTimeout as sleep } from 'node:timers/promises'

export class RateLimiter {
  private readonly gapMs: number
  private nextAt = 0

  constructor (perSecond: number) {
    this.gapMs = 1000 / perSecond
  }

  async take (): Promise<void> {
    const now = Date.now()
    const at = Math.max(now, this.nextAt)
    this.nextAt = at + this.gapMs
    if (at > now) await sleep(at - now)
  }
}
