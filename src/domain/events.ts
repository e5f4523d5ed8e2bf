// The session event log. Every event a client can see is a row here first (with a monotonic
// bigserial cursor), then published; streams and subscriptions replay from a cursor and
// follow live, so nothing is pushed that cannot be resumed.
import type { Prisma } from '../generated/prisma/client.ts'
import type { Db } from './deps.ts'

export interface SessionEventView {
  cursor: string
  sessionId: string
  turnId: string | null
  type: string
  payload: unknown
  createdAt: Date
}

export type EventListener = (event: SessionEventView) => void

export function eventView (row: { cursor: bigint, sessionId: string, turnId: string | null, type: string, payload: unknown, createdAt: Date }): SessionEventView {
  return { cursor: row.cursor.toString(), sessionId: row.sessionId, turnId: row.turnId, type: row.type, payload: row.payload, createdAt: row.createdAt }
}

export class SessionEvents {
  private readonly listeners = new Set<EventListener>()

  constructor (private readonly prisma: Db) {}

  /** Called with every appended event, after it is stored (the pubsub plugin listens here). */
  onAppend (listener: EventListener): () => void {
    this.listeners.add(listener)
    return () => this.listeners.delete(listener)
  }

  async append (sessionId: string, type: string, payload: Record<string, unknown>, turnId: string | null = null): Promise<SessionEventView> {
    const row = await this.prisma.sessionEvent.create({
      data: { sessionId, type, payload: payload as Prisma.InputJsonValue, turnId }
    })
    const event = eventView(row)
    for (const listener of this.listeners) listener(event)
    return event
  }

  async list (sessionId: string, after: bigint, limit: number): Promise<SessionEventView[]> {
    const rows = await this.prisma.sessionEvent.findMany({
      where: { sessionId, cursor: { gt: after } },
      orderBy: { cursor: 'asc' },
      take: limit
    })
    return rows.map(eventView)
  }
}
