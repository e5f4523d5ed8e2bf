import type { SessionEventView } from '../../schemas/event.ts'
export type { SessionEventView } from '../../schemas/event.ts'
// The shapes every context shares about the event log: a stored event as clients see it, and
// the bus that wakes its followers. They live below the contexts so that `deps.ts` (which every
// service takes) can name the bus without importing the event log itself.

/**
 * `prev`: the cursor of the session's event right before this one (as a string, "0" for the
 * first), when the appender knows it: a follower that holds exactly through `prev` may take
 * the event as it is, without reading the log. No event: a wake-up alone (the bus may have
 * lost some, e.g. across a Redis outage): read the log.
 */
export type EventListener = (event?: SessionEventView, prev?: string) => void

/**
 * Fan-out of stored events to whoever follows a session, on this instance or (with Redis)
 * any instance. A message is a wake-up: what followers get is read from the log (once per
 * session and wake-up on an instance), except the event that directly follows what they hold
 * (its `prev`), so a lost or reordered message can delay an event but never drop or repeat one.
 */
export interface EventBus {
  publish: (event: SessionEventView, prev?: string) => void
  subscribe: (sessionId: string, listener: EventListener) => () => void
}

/** The bus of a single process (tests of the domain, the CLI). */
export function localBus (): EventBus {
  const listeners = new Map<string, Set<EventListener>>()
  return {
    publish (event, prev) {
      for (const l of listeners.get(event.sessionId) ?? []) l(event, prev)
    },
    subscribe (sessionId, listener) {
      let set = listeners.get(sessionId)
      if (!set) listeners.set(sessionId, set = new Set())
      set.add(listener)
      return () => {
        set.delete(listener)
        if (set.size === 0) listeners.delete(sessionId)
      }
    }
  }
}
