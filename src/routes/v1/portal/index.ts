// Webhook portal links: the tenant's backend (an API key holding webhooks:manage) opens one for
// its own staff and hands out the `url`; the page at /portal reads the token from the URL's
// fragment (never sent to a server, so never in a log) and calls the REST API with it.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { DateTime, UuidParam, withProblems } from '../../schemas.ts'
import { PORTAL_DEFAULT_TTL_S, PORTAL_MAX_TTL_S, PORTAL_SCOPES } from '../../../domain/tenancy/index.ts'

const HeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Ignored: a portal link is the tenant\'s' }))
})
const ProblemRef = { $ref: 'Problem#' }
const config = { tenantOnly: true, apiKeyOnly: true, scope: 'webhooks:manage' as const }

const portal: FastifyPluginAsyncTypebox = async (fastify) => {
  const { portalSessions } = fastify.domain

  fastify.post('/sessions', {
    config,
    schema: {
      tags: ['portal'],
      operationId: 'createPortalSession',
      summary: 'A link to the webhook portal for the tenant\'s staff (the API key never reaches the browser)',
      description: `The link opens /portal for this tenant for ${PORTAL_DEFAULT_TTL_S / 60} minutes unless asked otherwise (24 h at most). ` +
        `Its token may only ${PORTAL_SCOPES.join(' and ')} (tenant-wide); only its hash is stored, and DELETE revokes it. ` +
        'The token is in the URL\'s fragment (#token=...), which browsers never send to a server.',
      headers: HeadersSchema,
      body: Type.Optional(Type.Object({
        ttlSeconds: Type.Optional(Type.Integer({ minimum: 60, maximum: PORTAL_MAX_TTL_S }))
      }, { additionalProperties: false })),
      response: withProblems({
        201: Type.Object({
          id: Type.String({ format: 'uuid', description: 'For DELETE /v1/portal/sessions/{id}' }),
          url: Type.String({ description: 'The link: a secret for as long as it lives' }),
          expiresAt: DateTime
        }),
        403: ProblemRef
      })
    }
  }, async (request, reply) => {
    const opened = await portalSessions.open(request.actor.tenantId, request.actor.apiKeyId, request.body?.ttlSeconds)
    return await reply.code(201).header('cache-control', 'no-store').send({ id: opened.id, url: opened.url, expiresAt: opened.expiresAt })
  })

  fastify.delete('/sessions/:id', {
    config,
    schema: {
      tags: ['portal'],
      operationId: 'revokePortalSession',
      summary: 'Revoke a portal link at once',
      headers: HeadersSchema,
      params: Type.Object({ id: UuidParam }),
      response: withProblems({ 204: Type.Null(), 403: ProblemRef })
    }
  }, async (request, reply) => {
    await portalSessions.revoke(request.actor.tenantId, request.params.id)
    return await reply.code(204).send(null)
  })
}

export default portal
