// A small in-process cache for what the hot path reads on every request and rarely changes
// (a user's row, a tenant's settings, a user's current token). Entries live `ttlMs` (0 turns
// the cache off); the service that changes a value deletes it here at once, and other instances
// see the change when their entry expires, so `ttlMs` bounds how stale any instance can be.
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V, until: number }>()

  constructor (private readonly ttlMs: number, private readonly max = 10_000) {}

  get (key: string): V | undefined {
    const entry = this.entries.get(key)
    if (entry === undefined) return undefined
    if (entry.until <= Date.now()) {
      this.entries.delete(key)
      return undefined
    }
    return entry.value
  }

  set (key: string, value: V): void {
    if (this.ttlMs <= 0) return
    if (this.entries.size >= this.max) this.entries.delete(this.entries.keys().next().value!)
    this.entries.set(key, { value, until: Date.now() + this.ttlMs })
  }

  delete (key: string): void {
    this.entries.delete(key)
  }

  clear (): void {
    this.entries.clear()
  }
}
