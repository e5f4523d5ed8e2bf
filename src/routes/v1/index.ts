// The tenant surface: every route below /v1 acts for one tenant's end user.
import type { FastifyPluginAsync } from 'fastify'
import sessions from './sessions/index.ts'
import credits from './credits/index.ts'

const v1: FastifyPluginAsync = async (fastify) => {
  fastify.addHook('onRequest', fastify.authenticateTenant)
  // `curl -X POST .../sessions` with no body at all means "no options", not a bad request
  fastify.addHook('preValidation', async (request) => {
    if (request.method === 'POST' && request.body == null && request.headers['content-type'] === undefined) request.body = {}
  })
  await fastify.register(sessions, { prefix: '/sessions' })
  await fastify.register(credits, { prefix: '/credits' })
}

export default v1
