// The tenant surface: every route below /v1 acts for one tenant's end user.
import type { FastifyPluginAsync } from 'fastify'
import sessions from './sessions/index.ts'
import credits from './credits/index.ts'
import turns from './turns/index.ts'
import events from './events/index.ts'
import state from './state/index.ts'
import say from './say/index.ts'
import uploads from './uploads/index.ts'
import exports from './exports/index.ts'
import webhooks from './webhooks/index.ts'
import users from './users/index.ts'
import clientTokens from './client-tokens/index.ts'
import usage from './usage/index.ts'
import portal from './portal/index.ts'

const v1: FastifyPluginAsync = async (fastify) => {
  // every route names the scope it needs: one forgotten would be open to every credential
  fastify.addHook('onRoute', (route) => {
    if (route.method !== 'HEAD' && route.config?.scope === undefined) throw new Error(`${String(route.method)} ${route.url} names no scope (config.scope)`)
  })
  fastify.addHook('onRequest', fastify.authenticateTenant)
  // what the request (and a turn it starts) asks of the database waits in its tenant's lane
  fastify.addHook('onRequest', fastify.tenantLane)
  fastify.addHook('onRequest', fastify.checkScope)
  // the routes take JSON (and uploads multipart): a text body is an unsupported media type
  // (415), not a JSON body that failed validation
  fastify.removeContentTypeParser('text/plain')
  // `curl -X POST .../sessions` with no body at all means "no options", not a bad request
  fastify.addHook('preValidation', (request, _reply, done) => {
    if (request.method === 'POST' && request.body == null && request.headers['content-type'] === undefined) request.body = {}
    done()
  })
  await fastify.register(sessions, { prefix: '/sessions' })
  await fastify.register(credits, { prefix: '/credits' })
  await fastify.register(turns, { prefix: '/sessions/:sessionId/turns' })
  await fastify.register(events, { prefix: '/sessions/:sessionId/events' })
  await fastify.register(state, { prefix: '/sessions/:sessionId/state' })
  await fastify.register(say, { prefix: '/sessions/:sessionId/say' })
  await fastify.register(uploads, { prefix: '/sessions/:sessionId/uploads' })
  await fastify.register(exports)
  await fastify.register(webhooks, { prefix: '/webhooks' })
  await fastify.register(users, { prefix: '/users' })
  await fastify.register(clientTokens, { prefix: '/client-tokens' })
  await fastify.register(usage, { prefix: '/usage' })
  await fastify.register(portal, { prefix: '/portal' })
}

export default v1
