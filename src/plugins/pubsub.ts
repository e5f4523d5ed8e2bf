// The bus carries session events to every follower: SSE streams and GraphQL subscriptions
// alike. This instance's followers are called directly; with REDIS_URL the other instances
// hear them through mqemitter-redis, so any instance can serve any subscriber. The emitter
// (in process without Redis) also carries cache changes, and mercurius is given it.
//
// Redis may go away at any time, or not be there at start: the instance serves on. Its two
// connections are ours (mqemitter-redis would open them with no error listener, and its own
// error event, unheard, ends the process); they retry forever (plugins/redis.ts watches them).
// This instance's own messages reach its own listeners directly, Redis or not, so its own
// followers miss nothing; followers elsewhere miss the wake-up, not the event: when the
// subscriber is back (its channels resubscribed), every session followed here is woken to
// read the log, which has what was missed. Cache changes fall back on the caches' TTLs.
import { randomUUID } from 'node:crypto'
import fp from 'fastify-plugin'
import mqemitter from 'mqemitter'
import type { FastifyInstance } from 'fastify'
import type { EventBus, EventListener, SessionEventView } from '../domain/events/index.ts'
import { REDIS_CONNECTION } from './redis.ts'

type Emitter = ReturnType<typeof mqemitter>
type Message = Parameters<Emitter['emit']>[0]
type Done = (err?: Error) => void

declare module 'fastify' {
  interface FastifyInstance {
    emitter: Emitter
    eventBus: EventBus
  }
}

function sessionTopic (sessionId: string): string {
  return `session/${sessionId}`
}

/** mqemitter-redis's parts the gateway drives itself (see `redisEmitter`). */
interface RedisEmitter extends Emitter {
  closing: boolean
  state: NodeJS.EventEmitter
  /** mqemitter's own emit: this instance's listeners only. */
  _emit: (message: Message, done?: Done) => void
  /** mqemitter's own close: marks the emitter closed, leaves the connections alone. */
  _close: (done: () => void) => void
}

async function redisEmitter (fastify: FastifyInstance, url: string, resync: () => void): Promise<Emitter> {
  const log = fastify.log.child({ component: 'pubsub' })
  // the publisher fails at once while offline (the message goes to this instance's listeners
  // instead); the subscriber keeps its (un)subscribe commands until it is back, never drops them
  const { Redis } = await import('ioredis')
  const pub = new Redis(url, { ...REDIS_CONNECTION, enableOfflineQueue: false, maxRetriesPerRequest: 1, enableAutoPipelining: true })
  const sub = new Redis(url, { ...REDIS_CONNECTION, maxRetriesPerRequest: null })
  fastify.redisLink?.watch('events-publish', pub)
  fastify.redisLink?.watch('events-subscribe', sub)
  // the connections' errors reach the link (plugins/redis.ts); mqemitter-redis re-raises them here
  const MQEmitterRedis = (await import('mqemitter-redis')).default
  const emitter = MQEmitterRedis({ pubConn: pub as never, subConn: sub as never }) as unknown as RedisEmitter
  emitter.state.on('error', (err: Error) => { log.debug({ err }, 'pubsub connection error') })

  // Once the subscriber is ready its channels are resubscribed, ahead of anything sent after:
  // a PING's answer says they are in place; then a read of the log misses nothing.
  sub.on('ready', () => {
    sub.ping().then(resync, (err: unknown) => { log.debug({ err }, 'no resync after reconnecting') })
  })

  const publish = emitter.emit.bind(emitter)
  emitter.emit = (message: Message, done?: Done) => {
    if (pub.status === 'ready' && sub.status === 'ready') return publish(message, done)
    // through Redis this instance's own listeners would not hear it: deliver it here (a session
    // event's own listeners have it already from the bus, and skip this copy)
    emitter._emit(message, done)
    if (pub.status === 'ready') publish(message, (err?: Error) => { if (err) log.debug({ err }, 'could not publish to the other instances') })
  }

  fastify.addHook('onClose', async () => {
    emitter.closing = true
    await Promise.all([pub, sub].map(async (connection) => {
      // a quit would wait in the offline queue for a Redis that is not there
      if (connection.status === 'ready') await Promise.race([connection.quit().catch(() => {}), new Promise((resolve) => setTimeout(resolve, 1000).unref())])
      connection.disconnect()
    }))
    await new Promise<void>((resolve) => emitter._close(resolve))
  })
  return emitter
}

async function pubsub (fastify: FastifyInstance): Promise<void> {
  const { REDIS_URL } = fastify.config
  // the bus's listeners on this instance, by session: woken when a lost wake-up is possible
  const listeners = new Map<string, Set<EventListener>>()
  const resync = () => {
    for (const set of listeners.values()) for (const listener of set) listener(undefined)
  }
  // what this instance's own messages carry (with Redis, heard here directly, never back from Redis)
  const origin = randomUUID()
  const emitter: Emitter = REDIS_URL
    ? await redisEmitter(fastify, REDIS_URL, resync)
    : mqemitter({ concurrency: 1000 })

  const bus: EventBus = {
    publish (event: SessionEventView, prev?: string) {
      // this instance's followers hear it at once, from the bus's own map (no topic matching in
      // the emitter for each event: this runs for every event of every turn); with Redis, the
      // other instances through Redis, their copy naming this instance
      const set = listeners.get(event.sessionId)
      if (set !== undefined) for (const listener of set) listener(event, prev)
      if (!REDIS_URL) return
      emitter.emit({ topic: sessionTopic(event.sessionId), event, prev, origin }, (err) => {
        if (err) fastify.log.warn({ err }, 'could not publish a session event')
      })
    },
    subscribe (sessionId: string, listener: EventListener) {
      let set = listeners.get(sessionId)
      if (set === undefined) listeners.set(sessionId, set = new Set())
      set.add(listener)
      if (!REDIS_URL) {
        return () => {
          set.delete(listener)
          if (set.size === 0) listeners.delete(sessionId)
        }
      }
      // another instance's events arrive through Redis (this instance's own are heard above)
      const handler = (message: Record<string, unknown>, done: () => void) => {
        if (message.origin === origin) { done(); return }
        listener(message.event as SessionEventView, typeof message.prev === 'string' ? message.prev : undefined)
        done()
      }
      emitter.on(sessionTopic(sessionId), handler)
      return () => {
        emitter.removeListener(sessionTopic(sessionId), handler)
        set.delete(listener)
        if (set.size === 0) listeners.delete(sessionId)
      }
    }
  }

  fastify.decorate('emitter', emitter)
  fastify.decorate('eventBus', bus)
  if (!REDIS_URL) {
    fastify.addHook('onClose', async () => {
      await new Promise<void>(resolve => emitter.close(() => resolve()))
    })
  }
}

export default fp(pubsub, { name: 'pubsub', dependencies: ['redis'] })
