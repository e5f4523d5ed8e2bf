// A small in-process cache for what the hot path reads on every request and rarely changes
// (a user's row, a tenant's settings, a user's current token, a key's verdict). Entries live
// `ttlMs` (0 turns the cache off); a change deletes its entry at once (on every instance,
// through CacheSync), and `ttlMs` bounds how stale an entry can be if a message is lost.
// Concurrent misses of one key share one load (single-flight), so an entry that expires under
// load costs one database read, not one per request in flight.
export class TtlCache<V> {
  private readonly entries = new Map<string, { value: V, until: number }>()
  private readonly loading = new Map<string, Promise<V>>()
  /** Bumped by every delete and clear: a load that started before one must not store what it read. */
  private generation = 0

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

  /**
   * The cached value, or the one `loader` reads (shared with every caller that misses
   * meanwhile). `keep` says whether a loaded value may be cached.
   */
  async load (key: string, loader: () => Promise<V>, keep: (value: V) => boolean = () => true): Promise<V> {
    const hit = this.get(key)
    if (hit !== undefined) return hit
    const inFlight = this.loading.get(key)
    if (inFlight !== undefined) return await inFlight
    const generation = this.generation
    const pending: Promise<V> = loader()
      .then((value) => {
        if (generation === this.generation && keep(value)) this.set(key, value)
        return value
      })
      .finally(() => { if (this.loading.get(key) === pending) this.loading.delete(key) })
    this.loading.set(key, pending)
    return await pending
  }

  delete (key: string): void {
    this.entries.delete(key)
    this.loading.delete(key)
    this.generation++
  }

  clear (): void {
    this.entries.clear()
    this.loading.clear()
    this.generation++
  }
}
