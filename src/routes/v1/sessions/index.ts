// Editing sessions of the calling end user.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { LanguageSchema, TitleSchema } from '../../../inputs.ts'
import { PageQuerySchema, TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { SessionSchema, WebLinkSchema } from '../../../schemas/session.ts'

const CreateSessionSchema = Type.Object({
  language: Type.Optional(LanguageSchema),
  title: Type.Optional(TitleSchema)
}, { additionalProperties: false, examples: [{ title: 'Urban Dreams', language: 'en' }] })

const sessions: FastifyPluginAsyncTypebox = async (fastify) => {
  const { sessions } = fastify.domain

  fastify.post('/', {
    config: { scope: 'sessions:write', idempotent: true },
    schema: {
      tags: ['sessions'],
      operationId: 'createSession',
      summary: 'Open an editing session',
      headers: TenantHeadersSchema,
      body: Type.Optional(CreateSessionSchema),
      response: withProblems({ 201: SessionSchema, 402: { $ref: 'Problem#' } })
    }
  }, async (request, reply) => {
    const session = await sessions.create(request.actor, request.body ?? {})
    return await reply.code(201).header('location', `/v1/sessions/${session.id}`).send(session)
  })

  fastify.get('/', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['sessions'],
      operationId: 'listSessions',
      summary: 'List the user\'s sessions, newest first',
      headers: TenantHeadersSchema,
      querystring: PageQuerySchema,
      response: withProblems({ 200: Type.Object({ items: Type.Array(SessionSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) })
    }
  }, async (request) => {
    return await sessions.list(request.actor, { cursor: request.query.cursor, limit: request.query.limit })
  })

  fastify.get('/:sessionId', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['sessions'],
      operationId: 'getSession',
      summary: 'One session',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      response: withProblems({ 200: SessionSchema })
    }
  }, async (request) => {
    return await sessions.get(request.actor, request.params.sessionId)
  })

  fastify.get('/:sessionId/web-link', {
    config: { scope: 'sessions:write' },
    schema: {
      tags: ['sessions'],
      operationId: 'getSessionWebLink',
      summary: 'The link that opens the session in Nemo\'s web editor',
      description: 'A claim link (`https://nemovideo.com/workspace/claim?ct=<claim token>`), valid until `expiresAt` (7 days) and reused until then. ' +
        'It never carries the upstream token: hand it to the end user to continue editing in the web app.',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      response: withProblems({ 200: WebLinkSchema })
    }
  }, async (request) => {
    return await sessions.webLink(request.actor, request.params.sessionId)
  })
}

export default sessions
