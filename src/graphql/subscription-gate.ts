// Bounds of the WebSocket transport that mercurius (16.10) does not have: the size of a
// subscribe document (checked before mercurius parses it) and, with the next bounds, how many
// subscriptions one connection holds. mercurius starts every subscription in `handleGQLStart`
// (a `subscribe` message on an acknowledged connection) and sends what it throws as an `error`
// message for that id (graphql-transport-ws), leaving the connection open; so the gate wraps
// that method. A connection's gate comes from `onConnect` (src/plugins/graphql.ts), which
// mercurius merges into the connection's context.
import { createRequire } from 'node:module'
import type { GraphQLError } from 'graphql'
import { checkDocumentSize } from './limits.ts'

export type Refusal = 'document_size'

export interface GateOptions {
  maxDocumentBytes: number
  /** Told of every refusal (a metric). */
  refused: (reason: Refusal) => void
}

export class SubscriptionGate {
  constructor (private readonly opts: GateOptions) {}

  /** The error a subscribe message is refused with, or null to let it start. */
  check (payload: unknown): GraphQLError | null {
    const query = (payload as { query?: unknown } | null | undefined)?.query
    const tooLarge = typeof query === 'string' ? checkDocumentSize(query, this.opts.maxDocumentBytes) : null
    if (tooLarge !== null) this.opts.refused('document_size')
    return tooLarge
  }
}

interface Connection {
  context?: { gate?: unknown }
  handleGQLStart: (data: { id?: unknown, payload?: unknown }) => Promise<void>
}

const kPatched = Symbol.for('nemo-gateway.graphql.subscription-gate')

/** Puts each connection's gate in front of mercurius' `handleGQLStart` (once per process). */
export function gateSubscriptions (): void {
  const SubscriptionConnection = createRequire(import.meta.url)('mercurius/lib/subscription-connection.js') as {
    prototype: Connection & { [kPatched]?: true }
  }
  const proto = SubscriptionConnection.prototype
  // a mercurius that no longer has this method starts subscriptions differently: leave it alone
  if (typeof proto.handleGQLStart !== 'function' || proto[kPatched] === true) return
  proto[kPatched] = true
  const start = proto.handleGQLStart
  proto.handleGQLStart = async function handleGQLStart (this: Connection, data) {
    const gate = this.context?.gate
    if (gate instanceof SubscriptionGate) {
      const refusal = gate.check(data.payload)
      if (refusal !== null) throw refusal
    }
    return await start.call(this, data)
  }
}
