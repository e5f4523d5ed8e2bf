// The WebSocket at /graphql speaks graphql-transport-ws as its protocol (graphql-ws's
// PROTOCOL.md) says, and nothing else. mercurius (16.10) reads both it and the legacy
// subscriptions-transport-ws, and answers a protocol error with a message (or not at all)
// where the protocol closes the socket; so its reader is replaced here:
//   4400 a message that is not JSON, has no known `type`, or is malformed (also the legacy
//        `start`, `stop`, `connection_terminate`)
//   4401 a `subscribe` before the connection is acknowledged
//   4406 a subprotocol other than graphql-transport-ws, or none (the legacy `graphql-ws` too)
//   4408 no `connection_init` within CONNECTION_INIT_TIMEOUT_MS
//   4429 a second `connection_init`
// 4403 (bad credentials) and 4429 (too many failures, too many connections) are onConnect's
// (src/plugins/graphql.ts), 4409 (an id that is running) the gate's (subscription-gate.ts).
// Every `error` message carries the catalog's codes (errors.ts). Remove once mercurius does so.
import { createRequire } from 'node:module'
import type { FastifyBaseLogger } from 'fastify'
import { formatErrors } from './errors.ts'

export const GRAPHQL_TRANSPORT_WS = 'graphql-transport-ws'
/** graphql-ws waits 3 s by default; a client on a slow link gets more here. */
const CONNECTION_INIT_TIMEOUT_MS = 10_000

const CLOSE_BAD_REQUEST = 4400
const CLOSE_UNAUTHORIZED = 4401
const CLOSE_SUBPROTOCOL_NOT_ACCEPTABLE = 4406
const CLOSE_INIT_TIMEOUT = 4408
const CLOSE_TOO_MANY_INITS = 4429

/** ws's selection of the subprotocol: graphql-transport-ws when offered, else none (then 4406). */
export function selectProtocol (protocols: Set<string>): string | false {
  return protocols.has(GRAPHQL_TRANSPORT_WS) ? GRAPHQL_TRANSPORT_WS : false
}

type Message =
  | { type: 'connection_init' | 'ping' | 'pong', payload?: Record<string, unknown> | null }
  | { type: 'subscribe', id: string, payload: { query: string, variables?: unknown, operationName?: unknown, extensions?: unknown } }
  | { type: 'complete', id: string }

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value)
const isOptional = (value: unknown, check: (v: unknown) => boolean) => value === undefined || value === null || check(value)

/** A client's message, or why it is not one (the 4400 close reason). */
function readMessage (raw: Buffer, isBinary: boolean): Message | string {
  let data: unknown
  try {
    data = JSON.parse(isBinary ? raw.toString('utf8') : raw.toString())
  } catch {
    return 'Invalid message received: not JSON'
  }
  if (!isObject(data) || typeof data.type !== 'string') return 'Invalid message received: no "type"'
  switch (data.type) {
    case 'connection_init':
    case 'ping':
    case 'pong':
      return isOptional(data.payload, isObject) ? data as Message : `Invalid message received: "${data.type}" payload must be an object`
    case 'subscribe': {
      const payload = data.payload
      if (typeof data.id !== 'string' || data.id === '') return 'Invalid message received: "subscribe" needs an "id"'
      if (!isObject(payload) || typeof payload.query !== 'string') return 'Invalid message received: "subscribe" needs payload.query'
      if (!isOptional(payload.variables, isObject) || !isOptional(payload.extensions, isObject) ||
        !isOptional(payload.operationName, v => typeof v === 'string')) {
        return 'Invalid message received: "subscribe" payload has a bad variables, operationName or extensions'
      }
      return data as Message
    }
    case 'complete':
      return typeof data.id === 'string' && data.id !== '' ? data as Message : 'Invalid message received: "complete" needs an "id"'
    default:
      // `connection_ack`, `next` and `error` go the other way; the rest is another protocol
      return `Invalid message received: unexpected type "${data.type.slice(0, 40)}"`
  }
}

const kInitReceived = Symbol('graphql-transport-ws.init-received')

interface Connection {
  socket: {
    protocol: string
    close: (code?: number, reason?: string) => void
    once: (event: 'close', listener: () => void) => void
  }
  fastify: { log: FastifyBaseLogger }
  isReady: boolean
  [kInitReceived]?: true
  handleConnection: () => Promise<void>
  handleMessage: (message: Buffer, isBinary: boolean) => Promise<void>
  handleConnectionInit: (data: Message) => Promise<void>
  handleGQLStart: (data: Message) => Promise<void>
  handleGQLStop: (data: Message) => Promise<void>
  sendMessage: (type: string, id?: string, payload?: unknown) => Promise<void>
  sendError: (err: unknown, id?: string) => void
}

const kPatched = Symbol.for('nemo-gateway.graphql.transport-ws')

/** Puts graphql-transport-ws in place of mercurius' reader (once per process). */
export function speakGraphQLTransportWs (): void {
  const SubscriptionConnection = createRequire(import.meta.url)('mercurius/lib/subscription-connection.js') as {
    prototype: Connection & { [kPatched]?: true }
  }
  const proto = SubscriptionConnection.prototype
  // a mercurius without these has changed how it reads: leave it alone
  const needed = ['handleConnection', 'handleMessage', 'handleConnectionInit', 'handleGQLStart', 'handleGQLStop', 'sendMessage', 'sendError'] as const
  if (needed.some(name => typeof proto[name] !== 'function') || proto[kPatched] === true) return
  proto[kPatched] = true

  const read = proto.handleConnection
  proto.handleConnection = async function handleConnection (this: Connection) {
    if (this.socket.protocol !== GRAPHQL_TRANSPORT_WS) {
      this.socket.close(CLOSE_SUBPROTOCOL_NOT_ACCEPTABLE, 'Subprotocol not acceptable: use graphql-transport-ws')
      return
    }
    const timer = setTimeout(() => {
      if (this[kInitReceived] !== true) this.socket.close(CLOSE_INIT_TIMEOUT, 'Connection initialisation timeout')
    }, CONNECTION_INIT_TIMEOUT_MS)
    timer.unref()
    this.socket.once('close', () => { clearTimeout(timer) })
    await read.call(this)
  }

  proto.handleMessage = async function handleMessage (this: Connection, raw, isBinary) {
    const message = readMessage(raw, isBinary)
    if (typeof message === 'string') {
      this.socket.close(CLOSE_BAD_REQUEST, message)
      return
    }
    switch (message.type) {
      case 'connection_init':
        if (this[kInitReceived] === true) {
          this.socket.close(CLOSE_TOO_MANY_INITS, 'Too many initialisation requests')
          return
        }
        this[kInitReceived] = true
        await this.handleConnectionInit(message)
        return
      case 'ping':
        await this.sendMessage('pong', undefined, message.payload ?? undefined)
        return
      case 'pong':
        return
      case 'subscribe':
        if (!this.isReady) {
          this.socket.close(CLOSE_UNAUTHORIZED, 'Unauthorized')
          return
        }
        // not awaited: a subscription runs until it ends, and the next message may complete it
        this.handleGQLStart(message).catch((err: unknown) => { this.sendError(err, message.id) })
        return
      case 'complete':
        await this.handleGQLStop(message)
    }
  }

  proto.sendError = function sendError (this: Connection, err, id) {
    // sendMessage settles by itself: a socket that went away closes the connection
    this.sendMessage('error', id, formatErrors(err, this.fastify.log)).catch(() => {})
  }
}
