// The hot path's cache: concurrent misses share one load, and a change made while a load is
// in flight is never overwritten by what that load read before it.
import t from 'tap'
import { TtlCache } from '../../../src/domain/common/ttl-cache.ts'

function gate<V> (): { promise: Promise<V>, open: (v: V) => void } {
  let open!: (v: V) => void
  const promise = new Promise<V>((resolve) => { open = resolve })
  return { promise, open }
}

t.test('50 concurrent misses of one key cost one load, and the value is then cached', async (t) => {
  const cache = new TtlCache<string>(60_000)
  let loads = 0
  const g = gate<string>()
  const all = Promise.all(Array.from({ length: 50 }, async () => await cache.load('k', async () => { loads++; return await g.promise })))
  g.open('v')
  t.same(new Set(await all), new Set(['v']))
  t.equal(loads, 1)
  t.equal(await cache.load('k', async () => { loads++; return 'other' }), 'v')
  t.equal(loads, 1, 'served from the cache')
})

t.test('a delete while a load is in flight: the stale read is returned to its callers but not cached', async (t) => {
  const cache = new TtlCache<string>(60_000)
  const g = gate<string>()
  const stale = cache.load('k', async () => await g.promise)
  cache.delete('k') // the operator changed the value meanwhile
  g.open('before the change')
  t.equal(await stale, 'before the change')
  t.equal(await cache.load('k', async () => 'after the change'), 'after the change', 'the next read loads anew')
})

t.test('keep decides what is cached; TTL 0 caches nothing but still shares concurrent loads', async (t) => {
  const cache = new TtlCache<string | null>(60_000)
  let loads = 0
  await cache.load('k', async () => { loads++; return null }, (v) => v !== null)
  await cache.load('k', async () => { loads++; return null }, (v) => v !== null)
  t.equal(loads, 2, 'a value keep refuses is read every time')

  const off = new TtlCache<string>(0)
  let offLoads = 0
  const g = gate<string>()
  const both = Promise.all([off.load('k', async () => { offLoads++; return await g.promise }), off.load('k', async () => { offLoads++; return await g.promise })])
  g.open('v')
  await both
  t.equal(offLoads, 1, 'concurrent reads shared one load')
  await off.load('k', async () => { offLoads++; return 'v' })
  t.equal(offLoads, 2, 'nothing was cached')
})

t.test('a failed load is shared by its concurrent callers and not cached', async (t) => {
  const cache = new TtlCache<string>(60_000)
  let loads = 0
  const results = await Promise.allSettled([1, 2, 3].map(async () => await cache.load('k', async () => { loads++; throw new Error('down') })))
  t.ok(results.every((r) => r.status === 'rejected'))
  t.equal(loads, 1)
  t.equal(await cache.load('k', async () => 'up'), 'up')
})
