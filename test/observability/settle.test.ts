// The heap settled after the start (src/observability/settle.ts): the young generation a busy
// start grew to its largest size is cut back, and the process's resident memory drops with it.
// A plain full collection does not do that; this test would fail if settleHeap ran one.
import t from 'tap'
import { getHeapSpaceStatistics } from 'node:v8'
import { settleHeap } from '../../src/observability/settle.ts'

const youngMiB = () => getHeapSpaceStatistics().find((s) => s.space_name === 'new_space')!.space_size / 1048576

t.test('the young generation a start grew goes back, and resident memory with it', async (t) => {
  // what loading modules does: allocations that mostly survive a scavenge, so V8 grows the young generation
  let kept: unknown[] = []
  for (let i = 0; i < 3_000_000; i++) {
    kept.push({ i, s: `x${i}` })
    if (kept.length > 200_000) kept = []
  }
  kept = []
  const grown = youngMiB()
  t.ok(grown >= 8, `the young generation grew (${grown} MiB)`)

  const settled = await settleHeap()
  const after = youngMiB()
  t.ok(after <= grown / 4, `cut back: ${grown} -> ${after} MiB`)
  if (settled.rssBeforeKiB !== null && settled.rssAfterKiB !== null) {
    t.ok(settled.rssAfterKiB < settled.rssBeforeKiB, `resident memory ${Math.round(settled.rssBeforeKiB / 1024)} -> ${Math.round(settled.rssAfterKiB / 1024)} MiB`)
  }
})
