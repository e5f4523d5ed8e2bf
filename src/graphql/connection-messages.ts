// mercurius (16.10) reads each WebSocket's messages with `for await (... of events.on(socket,
// 'message'))`. Node's `events.on` allocates two 2,048-slot queues per call, and the pending
// iteration keeps them for the life of the connection: measured, about half of what an idle
// graphql-ws connection costs (76 -> 39 KB of RSS, bench/streams/subscribers.ts). This reads the
// same messages with a plain listener, one after another as before (each handled before the
// next starts; an error closes the connection as before). Remove once mercurius does so.
import { createRequire } from 'node:module'

interface Connection {
  socket: { on: (event: 'message', listener: (message: Buffer, isBinary: boolean) => void) => void }
  fastify: { log: { error: (err: unknown) => void } }
  handleMessage: (message: Buffer, isBinary: boolean) => Promise<void>
  handleConnectionClose: () => void
}

const kPatched = Symbol.for('nemo-gateway.graphql.connection-messages')

export function readConnectionMessagesWithListener (): void {
  const SubscriptionConnection = createRequire(import.meta.url)('mercurius/lib/subscription-connection.js') as {
    prototype: { handleConnection?: unknown, [kPatched]?: true }
  }
  const proto = SubscriptionConnection.prototype
  // a mercurius that no longer has this method has changed how it reads: leave it alone
  if (typeof proto.handleConnection !== 'function' || proto[kPatched] === true) return
  proto[kPatched] = true
  proto.handleConnection = async function handleConnection (this: Connection): Promise<void> {
    let previous = Promise.resolve()
    this.socket.on('message', (message, isBinary) => {
      previous = previous
        .then(async () => { await this.handleMessage(message, isBinary) })
        .catch((err: unknown) => {
          this.fastify.log.error(err)
          this.handleConnectionClose()
        })
    })
  }
}
