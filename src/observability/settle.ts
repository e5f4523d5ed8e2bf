// Once the gateway has started, its heap is settled: one collection that gives back what the
// start grew and no longer needs. Loading ~1,200 modules keeps most of what it allocates alive,
// which makes V8 grow its young generation to its largest size (two 16 MiB semi-spaces on a
// host of 24 GiB) and leave it there: an idle process does not allocate fast enough for V8 to
// shrink it, and its memory reducer only does so when its 30 s watchdog fires. A plain full
// collection (`global.gc()`) never shrinks it; V8's low-memory collection does (several full
// collections, then the young generation cut back to its starting size and its pages, and the
// pools' free pages, returned). Node reaches that collection only through the inspector
// protocol's `HeapProfiler.collectGarbage`, which an in-process session may call (no port is
// opened, nothing is exposed). The young generation grows back as soon as traffic needs it.
import { Session } from 'node:inspector'
import { readFileSync } from 'node:fs'
import type { FastifyBaseLogger } from 'fastify'

/** The process's resident memory in KiB, from /proc (null where there is none). */
function rssKiB (): number | null {
  try {
    const line = /VmRSS:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))
    return line === null ? null : Number(line[1])
  } catch {
    return null
  }
}

export interface Settled { ms: number, rssBeforeKiB: number | null, rssAfterKiB: number | null }

/** V8's low-memory collection, now (it blocks the event loop for its duration: tens of ms for an idle gateway). */
export async function settleHeap (): Promise<Settled> {
  const rssBeforeKiB = rssKiB()
  const began = performance.now()
  const session = new Session()
  session.connect()
  try {
    await new Promise<void>((resolve, reject) => session.post('HeapProfiler.collectGarbage', (err) => err === null ? resolve() : reject(err)))
  } finally {
    session.disconnect()
  }
  return { ms: performance.now() - began, rssBeforeKiB, rssAfterKiB: rssKiB() }
}

/** Settles the heap once, `delayMs` after now (0 = never), and logs what it gave back. */
export function settleAfterStart (delayMs: number, log: FastifyBaseLogger): void {
  if (delayMs <= 0) return
  const mib = (kib: number | null) => kib === null ? null : Math.round(kib / 1024)
  setTimeout(() => {
    settleHeap().then(({ ms, rssBeforeKiB, rssAfterKiB }) => {
      log.info({ ms: Math.round(ms), rssBeforeMiB: mib(rssBeforeKiB), rssAfterMiB: mib(rssAfterKiB) }, 'heap settled after the start')
    }, (err: unknown) => log.warn({ err }, 'could not settle the heap after the start'))
  }, delayMs).unref()
}
