// One execution of a subscription for every subscriber that sent the same document with the
// same variables, as the same end user. mercurius (16.10) runs graphql-js' `subscribe` once
// per subscriber: one follower of the session, one execution of the document per event and
// subscriber, one JSON.stringify each. Here, per share key, one upstream iterator runs; each
// event is executed once, its payload serialised and encoded once, and the `next` frame
// (WebSocket header included, ws-frames.ts) built once per distinct subscription id (clients
// mostly number theirs alike), then written to every socket as it is: one write each.
//
// The share key is what decides what a subscriber may see: the tenant, the end user and the
// sessions a client token is bound to, with the printed document, the operation name and the
// variables (sorted). Each subscriber still passes the preSubscriptionExecution hooks on its own
// (validation, depth and cost, the credential's scopes) before it joins; two users, or two
// tenants, never share, and a subscriber of another session or cursor starts its own.
// A newcomer joins a running execution only while it has sent nothing yet: from then on the
// newcomer would miss what the others already received, so it starts a new one (which the
// next newcomers with that key join).
// Leaving (the client's `complete`, its socket closing) takes one subscriber out; the
// execution ends with its last subscriber. A socket that cannot keep up (more than
// MAX_BUFFERED_BYTES waiting) is closed with 1013: its client resumes with `after`.
//
// The override is `_executeSubscription` of mercurius' connection class: it keeps mercurius'
// contract (resolves when the subscription ends, throws what should go back as `error`, an
// iterator in `subscriptionIters` under the id that `complete` and a closing socket return).
// A mercurius without that method, or an app with onSubscriptionResolution hooks or a
// depth limit of mercurius' own, runs mercurius' code unchanged (and its subscriptions are then
// not counted in gateway_graphql_open_subscriptions, which this module keeps).
import { createRequire } from 'node:module'
import type { Duplex } from 'node:stream'
import { print, subscribe, type DocumentNode, type ExecutionResult, type GraphQLSchema, getOperationAST } from 'graphql'
import type { RequestActor } from '../domain/common/index.ts'
import { domainMetrics } from '../observability/metrics.ts'
import { directStream, frameMessage, senderIdle, textFrame, type FramedSocket } from './ws-frames.ts'

/** A socket further behind than this is closed (1013, try again later) rather than buffered for. */
const MAX_BUFFERED_BYTES = 8 * 1024 * 1024
const CLOSE_TRY_AGAIN_LATER = 1013

interface Connection {
  socket: FramedSocket
  fastify: { graphql: { schema: GraphQLSchema } }
  context: { shares?: unknown, preSubscriptionExecution?: unknown, onSubscriptionResolution?: unknown }
  queryDepthLimit?: number
  protocolMessageTypes: { GQL_DATA: string, GQL_COMPLETE: string }
  resolverContext?: unknown
  subscriptionIters: Map<string, { return?: () => unknown }>
  errorFormatter: (result: ExecutionResult, context: unknown) => { response: unknown }
  sendMessage: (type: string, id?: string, payload?: unknown) => Promise<void>
  handleGQLComplete: (id: string) => void
  handleConnectionClose: () => void
  _executeSubscription: (args: ExecuteArgs) => Promise<void>
}

interface ExecuteArgs {
  document: DocumentNode
  query: unknown
  context: Record<string, unknown> & { actor?: RequestActor }
  variables?: Record<string, unknown> | null
  operationName?: string | null
  id: string
}

/** JSON with object keys sorted, so `{a, b}` and `{b, a}` are one key. */
function canonical (value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(',')}]`
  if (typeof value === 'object' && value !== null) {
    const record = value as Record<string, unknown>
    return `{${Object.keys(record).sort().filter(k => record[k] !== undefined).map(k => `${JSON.stringify(k)}:${canonical(record[k])}`).join(',')}}`
  }
  return JSON.stringify(value) ?? 'null'
}

/** Who may see what, and what is asked: subscribers with the same key receive the same events. */
function shareKey (actor: RequestActor, document: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | null | undefined): string {
  const bound = actor.sessionIds === undefined ? '*' : [...actor.sessionIds].sort().join(',')
  return canonical([actor.tenantId, actor.userId, bound, operationName ?? null, print(document), variables ?? {}])
}

/** `sessionEvents` -> `session_events`: the metric's kind. */
function kindOf (document: DocumentNode, operationName: string | null | undefined): string {
  const operation = getOperationAST(document, operationName ?? undefined)
  const field = operation?.selectionSet.selections.find(s => s.kind === 'Field')
  const name = field?.kind === 'Field' ? field.name.value : 'unknown'
  return name.replace(/[A-Z]/g, c => `_${c.toLowerCase()}`)
}

class Subscriber {
  private settle!: { resolve: () => void, reject: (err: unknown) => void }
  readonly done = new Promise<void>((resolve, reject) => { this.settle = { resolve, reject } })
  left = false
  /** Where frames are written as they are (ws-frames.ts), when they may be. */
  private readonly raw: Duplex | undefined
  constructor (readonly connection: Connection, readonly id: string, readonly execution: SharedExecution) {
    // awaited by the subscriber's start once the execution is ready; an error before is not lost
    this.done.catch(() => {})
    this.raw = directStream(connection.socket)
  }

  /** One callback per subscriber, not one per frame. */
  readonly sent = (err?: Error | null): void => { if (err != null) this.connection.handleConnectionClose() }

  /** Sends a frame built by `textFrame`. */
  send (frame: Buffer): void {
    const socket = this.connection.socket
    if (socket.readyState !== 1) return
    const raw = this.raw !== undefined && senderIdle(socket) ? this.raw : undefined
    // what ws' bufferedAmount counts: its socket's buffer (and its own queue, empty for `raw`)
    if ((raw?.writableLength ?? socket.bufferedAmount) > MAX_BUFFERED_BYTES) {
      socket.close(CLOSE_TRY_AGAIN_LATER, 'Too far behind: reconnect and resume with after')
      return
    }
    if (raw !== undefined) raw.write(frame)
    else socket.send(frameMessage(frame), { binary: false }, this.sent)
  }

  /** Taken out by `complete`, a closing socket, or the end of the execution. */
  leave (err?: unknown): void {
    if (this.left) return
    this.left = true
    this.execution.remove(this)
    if (err === undefined) this.settle.resolve()
    else this.settle.reject(err)
  }
}

/** The subscribers of an execution that use one subscription id: one frame per event serves them all. */
interface IdGroup {
  /** The id as JSON, encoded. */
  readonly id: Buffer
  readonly members: Set<Subscriber>
}

class SharedExecution {
  readonly subscribers = new Set<Subscriber>()
  /** The same subscribers by subscription id (graphql-ws numbers with random UUIDs, others 1, 2, ...). */
  private readonly byId = new Map<string, IdGroup>()
  /** Events sent so far: a newcomer may join only before the first. */
  private delivered = 0
  private ended = false
  private iterator: AsyncIterator<ExecutionResult> | undefined
  readonly ready: Promise<void>

  constructor (
    private readonly shares: SharedSubscriptions,
    readonly key: string,
    private readonly kind: string,
    private readonly leader: Connection,
    args: ExecuteArgs
  ) {
    shares.executions++
    domainMetrics().graphqlExecutions.add(1, { kind })
    this.ready = this.start(args)
  }

  get joinable (): boolean {
    return !this.ended && this.delivered === 0
  }

  private async start (args: ExecuteArgs): Promise<void> {
    const result = await subscribe({
      schema: this.leader.fastify.graphql.schema,
      document: args.document,
      rootValue: {},
      // what the resolvers read: the actor (every subscriber of the share has the same one)
      contextValue: { ...args.context, id: args.id },
      variableValues: args.variables,
      operationName: args.operationName
    })
    if (!(Symbol.asyncIterator in result)) {
      this.end()
      throw (result.errors?.[0] ?? new Error('The subscription did not start'))
    }
    this.iterator = result
    if (this.subscribers.size === 0) {
      // everyone left while it started
      this.end()
      return
    }
    // settles by itself: an upstream error goes to the subscribers
    this.pump().catch(() => {})
  }

  private async pump (): Promise<void> {
    const iterator = this.iterator!
    const types = this.leader.protocolMessageTypes
    // a `next` message is head + id + `,"payload":` + payload + `}`
    const head = Buffer.from(`{"type":${JSON.stringify(types.GQL_DATA)},"id":`)
    try {
      for (;;) {
        const step = await iterator.next()
        if (step.done === true || this.ended) break
        this.delivered++
        const value = step.value
        const response = Array.isArray(value.errors) && value.errors.length > 0 ? this.leader.errorFormatter(value, this.leader.context).response : value
        const started = performance.now()
        const tail = Buffer.from(`,"payload":${JSON.stringify(response)}}`)
        for (const group of this.byId.values()) {
          const frame = textFrame(head, group.id, tail)
          for (const subscriber of group.members) subscriber.send(frame)
        }
        domainMetrics().graphqlFanOut.record((performance.now() - started) / 1000, { kind: this.kind })
      }
    } catch (err) {
      // each subscriber's start answers it with an `error` for its id
      for (const subscriber of [...this.subscribers]) subscriber.leave(err)
      this.end()
      return
    }
    this.end()
    for (const { connection, id } of [...this.subscribers]) {
      // as mercurius: `complete`, then the id is free again (which takes the subscriber out)
      connection.sendMessage(types.GQL_COMPLETE, id, null).then(() => { connection.handleGQLComplete(id) }, () => {})
    }
  }

  add (subscriber: Subscriber): void {
    this.subscribers.add(subscriber)
    let group = this.byId.get(subscriber.id)
    if (group === undefined) {
      group = { id: Buffer.from(JSON.stringify(subscriber.id)), members: new Set() }
      this.byId.set(subscriber.id, group)
    }
    group.members.add(subscriber)
    this.shares.subscribers++
    domainMetrics().graphqlSubscriptions.add(1, { kind: this.kind })
  }

  remove (subscriber: Subscriber): void {
    if (!this.subscribers.delete(subscriber)) return
    const group = this.byId.get(subscriber.id)
    if (group !== undefined && group.members.delete(subscriber) && group.members.size === 0) this.byId.delete(subscriber.id)
    this.shares.subscribers--
    domainMetrics().graphqlSubscriptions.add(-1, { kind: this.kind })
    if (this.subscribers.size === 0) this.end()
  }

  private end (): void {
    if (this.ended) return
    this.ended = true
    this.shares.drop(this)
    this.shares.executions--
    domainMetrics().graphqlExecutions.add(-1, { kind: this.kind })
    Promise.resolve(this.iterator?.return?.()).catch(() => {})
  }
}

/** The running shared executions of one app, by share key. */
export class SharedSubscriptions {
  private readonly byKey = new Map<string, SharedExecution>()
  /** Upstream executions running (one per share). */
  executions = 0
  /** Subscribers they serve. */
  subscribers = 0

  /** The execution a subscriber with this key joins: the running one if it has sent nothing yet. */
  executionFor (key: string, create: () => SharedExecution): SharedExecution {
    const running = this.byKey.get(key)
    if (running?.joinable === true) return running
    const created = create()
    this.byKey.set(key, created)
    return created
  }

  drop (execution: SharedExecution): void {
    if (this.byKey.get(execution.key) === execution) this.byKey.delete(execution.key)
  }
}

const kPatched = Symbol.for('nemo-gateway.graphql.shared-subscriptions')

/** Puts the shared execution in place of mercurius' per-subscriber one (once per process). */
export function shareSubscriptionExecutions (): void {
  const require = createRequire(import.meta.url)
  const SubscriptionConnection = require('mercurius/lib/subscription-connection.js') as { prototype: Connection & { [kPatched]?: true } }
  const { preSubscriptionExecutionHandler } = require('mercurius/lib/handlers.js') as {
    preSubscriptionExecutionHandler: (request: { schema: GraphQLSchema, document: DocumentNode, context: unknown, id: string }) => Promise<void>
  }
  const proto = SubscriptionConnection.prototype
  if (typeof proto._executeSubscription !== 'function' || typeof preSubscriptionExecutionHandler !== 'function' || proto[kPatched] === true) return
  proto[kPatched] = true
  const original = proto._executeSubscription

  proto._executeSubscription = async function executeShared (this: Connection, args: ExecuteArgs) {
    const shares = this.context.shares
    const actor = args.context.actor
    if (!(shares instanceof SharedSubscriptions) || actor === undefined || this.queryDepthLimit !== undefined ||
      (this.context.onSubscriptionResolution ?? null) !== null) {
      return await original.call(this, args)
    }
    const schema = this.fastify.graphql.schema
    const { document, context, id, operationName } = args
    // this subscriber's own checks: validation, bounds, the credential's scopes
    if ((this.context.preSubscriptionExecution ?? null) !== null) await preSubscriptionExecutionHandler({ schema, document, context, id })
    if (this.socket.readyState !== 1) return
    this.resolverContext = context
    const key = shareKey(actor, document, operationName, args.variables)
    const execution = shares.executionFor(key, () => new SharedExecution(shares, key, kindOf(document, operationName), this, args))
    const subscriber = new Subscriber(this, id, execution)
    execution.add(subscriber)
    // mercurius' `complete` and a closing socket return what is kept under the id
    this.subscriptionIters.set(id, { return: () => { subscriber.leave() } })
    try {
      await execution.ready
    } catch (err) {
      subscriber.leave()
      throw err
    }
    await subscriber.done
  }
}
