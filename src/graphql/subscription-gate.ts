// Bounds of the WebSocket transport that mercurius (16.10) does not have: connections per API
// key (`KeyConnections`, taken in onConnect), and per connection (`SubscriptionGate`) the
// subscriptions it holds and what each keeps. One WebSocket held 5,000 subscriptions (RSS
// 254 -> 958 MB) before these. A running subscription keeps its parsed document, so the gate
// parses it in mercurius' place: checked for size first (GRAPHQL_MAX_DOCUMENT_BYTES, and at
// most MAX_SUBSCRIPTION_DOCUMENT_BYTES), without locations (which would keep an object per
// node) and with at most MAX_SUBSCRIPTION_TOKENS tokens (a field-heavy 64 KB document kept
// 3.8 MB per subscription). Queries and mutations may run over the socket too: they count
// while they run, and are held to the same bounds as over HTTP.
// mercurius starts every subscription in `handleGQLStart` (a `subscribe` message on an
// acknowledged connection), not awaited, and sends what it throws as an `error` message for
// that id (graphql-transport-ws), leaving the connection open; so the gate wraps that method
// and counts a subscription from its `subscribe` until it ends, however it ends: a burst of
// messages cannot slip past it. A connection's gate comes from `onConnect`
// (src/plugins/graphql.ts), which mercurius merges into the connection's context.
import { createRequire } from 'node:module'
import { getOperationAST, GraphQLError, parse, type DocumentNode } from 'graphql'
import { catalogError } from './errors.ts'
import { checkDocumentSize, MAX_SUBSCRIPTION_DOCUMENT_BYTES, MAX_SUBSCRIPTION_TOKENS } from './limits.ts'

type Refusal = 'document_size' | 'subscriptions_per_connection' | 'connections_per_key'

/** graphql-transport-ws: a `subscribe` for an id that is already running. */
const CLOSE_DUPLICATE_ID = 4409
/**
 * Parsed subscription documents by their text, the most recent first out last: subscribers that
 * send the same text share one parsed document (and the checks cached for it in
 * plugins/graphql.ts) instead of parsing it twice each. At most 8 KB each.
 */
const parsedSubscriptions = new Map<string, DocumentNode>()
const MAX_PARSED_SUBSCRIPTIONS = 256

/** A WebSocket close reason is at most 123 bytes. */
export function closeReason (text: string): string {
  const bytes = Buffer.from(text)
  return bytes.length <= 123 ? text : bytes.subarray(0, 120).toString('utf8').replace(/\uFFFD$/, '') + '...'
}

/** Open authenticated WebSocket connections per API key, on this instance. */
export class KeyConnections {
  private readonly open = new Map<string, number>()

  constructor (readonly max: number) {}

  /** Takes a place for one more connection of this key; false when it has none left. */
  take (apiKeyId: string): boolean {
    const count = this.open.get(apiKeyId) ?? 0
    if (count >= this.max) return false
    this.open.set(apiKeyId, count + 1)
    return true
  }

  release (apiKeyId: string): void {
    const count = (this.open.get(apiKeyId) ?? 0) - 1
    if (count > 0) this.open.set(apiKeyId, count)
    else this.open.delete(apiKeyId)
  }
}

export interface GateOptions {
  maxDocumentBytes: number
  maxSubscriptions: number
  /** Told of every refusal (a metric). */
  refused: (reason: Refusal) => void
}

/** One connection's subscriptions: how many, and what each may send. */
export class SubscriptionGate {
  private readonly running = new Set<string>()

  constructor (private readonly opts: GateOptions) {}

  has (id: string): boolean {
    return this.running.has(id)
  }

  /**
   * Counts an operation in and gives its parsed document, or answers the error it is refused
   * with. A subscription's document is held to the tighter bounds (it is kept while it runs).
   */
  enter (id: string, payload: { query?: unknown, operationName?: unknown } | null | undefined): DocumentNode | GraphQLError {
    const max = this.opts.maxSubscriptions
    if (this.running.size >= max) {
      this.opts.refused('subscriptions_per_connection')
      return catalogError('GW_ERR_TOO_MANY_SUBSCRIPTIONS',
        `This connection already runs ${max} subscriptions, the most one connection may; complete one first`,
        { limit: 'subscriptionsPerConnection', maxSubscriptions: max })
    }
    const document = this.parse(payload?.query, payload?.operationName)
    if (!(document instanceof GraphQLError)) this.running.add(id)
    return document
  }

  private parse (query: unknown, operationName: unknown): DocumentNode | GraphQLError {
    if (typeof query !== 'string') return catalogError('GW_ERR_VALIDATION', 'A subscribe message needs payload.query, the document as a string')
    const tooLarge = checkDocumentSize(query, this.opts.maxDocumentBytes)
    if (tooLarge !== null) {
      this.opts.refused('document_size')
      return tooLarge
    }
    const known = parsedSubscriptions.get(query)
    if (known !== undefined && getOperationAST(known, typeof operationName === 'string' ? operationName : undefined) != null) return known
    let document: DocumentNode
    try {
      document = parse(query, { noLocation: true })
    } catch (err) {
      return catalogError('GW_ERR_VALIDATION', (err as Error).message)
    }
    const operation = getOperationAST(document, typeof operationName === 'string' ? operationName : undefined)
    if (operation == null) {
      return catalogError('GW_ERR_VALIDATION', typeof operationName === 'string'
        ? `The document has no operation named "${operationName}"`
        : 'The document has several operations: name the one to run in payload.operationName')
    }
    return operation.operation === 'subscription' ? this.parseSubscription(query) : document
  }

  private parseSubscription (query: string): DocumentNode | GraphQLError {
    const tooLarge = checkDocumentSize(query, Math.min(this.opts.maxDocumentBytes, MAX_SUBSCRIPTION_DOCUMENT_BYTES))
    if (tooLarge !== null) {
      this.opts.refused('document_size')
      return tooLarge
    }
    try {
      const document = parse(query, { noLocation: true, maxTokens: MAX_SUBSCRIPTION_TOKENS })
      if (parsedSubscriptions.size >= MAX_PARSED_SUBSCRIPTIONS) parsedSubscriptions.delete(parsedSubscriptions.keys().next().value!)
      parsedSubscriptions.set(query, document)
      return document
    } catch {
      // it parsed without the bound: the bound is what it broke
      this.opts.refused('document_size')
      return catalogError('GW_ERR_PAYLOAD_TOO_LARGE', `A subscription document may have at most ${MAX_SUBSCRIPTION_TOKENS} tokens (a running subscription keeps it); select fewer fields`,
        { limit: 'subscriptionTokens', maxTokens: MAX_SUBSCRIPTION_TOKENS })
    }
  }

  leave (id: string): void {
    this.running.delete(id)
  }
}

interface Connection {
  context?: { gate?: unknown }
  socket: { close: (code: number, reason: string) => void }
  handleGQLStart: (data: { id?: unknown, payload?: Record<string, unknown> }) => Promise<void>
  handleGQLComplete: (id: unknown) => void
}

const kPatched = Symbol.for('nemo-gateway.graphql.subscription-gate')

/** Puts each connection's gate in front of mercurius' `handleGQLStart` (once per process). */
export function gateSubscriptions (): void {
  const SubscriptionConnection = createRequire(import.meta.url)('mercurius/lib/subscription-connection.js') as {
    prototype: Connection & { [kPatched]?: true }
  }
  const proto = SubscriptionConnection.prototype
  // a mercurius that no longer has these methods starts subscriptions differently: leave it alone
  if (typeof proto.handleGQLStart !== 'function' || typeof proto.handleGQLComplete !== 'function' || proto[kPatched] === true) return
  proto[kPatched] = true
  const start = proto.handleGQLStart
  proto.handleGQLStart = async function handleGQLStart (this: Connection, data) {
    const gate = this.context?.gate
    if (!(gate instanceof SubscriptionGate)) return await start.call(this, data)
    const id = String(data.id)
    if (gate.has(id)) {
      // the second would orphan the first (mercurius keys them by id): the protocol's answer
      this.socket.close(CLOSE_DUPLICATE_ID, closeReason(`Subscriber for ${id} already exists`))
      return
    }
    const document = gate.enter(id, data.payload)
    if (document instanceof GraphQLError) throw document
    // a query or mutation runs through fastify.graphql, which parses (and caches) the text
    const subscription = getOperationAST(document, data.payload?.operationName as string | undefined)?.operation === 'subscription'
    try {
      // mercurius takes a parsed document as it is; resolves when the operation ends:
      // completed by either side, or the connection closed
      await start.call(this, subscription ? { ...data, payload: { ...data.payload, query: document } } : data)
    } catch (err) {
      // mercurius keeps a subscription that failed to start until the connection closes
      this.handleGQLComplete(id)
      throw err
    } finally {
      gate.leave(id)
    }
  }
}
