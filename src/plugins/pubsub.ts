// One emitter carries session events to every follower: SSE streams and GraphQL
// subscriptions alike (mercurius is given the same emitter). In process by default; with
// REDIS_URL, mqemitter-redis, so any instance can serve any subscriber.
import fp from 'fastify-plugin'
import mqemitter from 'mqemitter'
import type { FastifyInstance } from 'fastify'
import type { EventBus, EventListener, SessionEventView } from '../domain/events.ts'

type Emitter = ReturnType<typeof mqemitter>

declare module 'fastify' {
  interface FastifyInstance {
    emitter: Emitter
    eventBus: EventBus
  }
}

export function sessionTopic (sessionId: string): string {
  return `session/${sessionId}`
}

async function pubsub (fastify: FastifyInstance): Promise<void> {
  const { REDIS_URL } = fastify.config
  const emitter: Emitter = REDIS_URL
    ? (await import('mqemitter-redis')).default({ connectionString: REDIS_URL }) as unknown as Emitter
    : mqemitter({ concurrency: 1000 })

  const bus: EventBus = {
    publish (event: SessionEventView, prev?: string) {
      emitter.emit({ topic: sessionTopic(event.sessionId), event, prev }, (err) => {
        if (err) fastify.log.warn({ err }, 'could not publish a session event')
      })
    },
    subscribe (sessionId: string, listener: EventListener) {
      const handler = (message: Record<string, unknown>, done: () => void) => {
        listener(message.event as SessionEventView, typeof message.prev === 'string' ? message.prev : undefined)
        done()
      }
      emitter.on(sessionTopic(sessionId), handler)
      return () => emitter.removeListener(sessionTopic(sessionId), handler)
    }
  }

  fastify.decorate('emitter', emitter)
  fastify.decorate('eventBus', bus)
  fastify.addHook('onClose', async () => {
    await new Promise<void>(resolve => emitter.close(() => resolve()))
  })
}

export default fp(pubsub, { name: 'pubsub' })
