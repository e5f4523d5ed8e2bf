// The tenant's webhook endpoints, their messages and every delivery attempt. These are the
// tenant's own resources: X-User-Id is accepted and ignored.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyContextConfig } from 'fastify'
import { Type } from 'typebox'
import { secretDigest, WEBHOOK_EVENTS } from '../../../domain/webhooks/index.ts'
import { PageCursorSchema, TimeInputSchema } from '../../../inputs.ts'
import { DateTime, defaulted, PageLimitSchema, PageQuerySchema, UuidParam, withProblems } from '../../schemas.ts'
import { EndpointSchema, MessageSchema, AttemptSchema } from '../../../schemas/webhook.ts'

const HeadersSchema = Type.Object({
  'x-user-id': Type.Optional(Type.String({ description: 'Ignored: webhook endpoints belong to the tenant' })),
  'idempotency-key': Type.Optional(Type.String({ maxLength: 257 }))
})

const EventTypeSchema = Type.Union(WEBHOOK_EVENTS.map(e => Type.Literal(e)))

const EndpointWithSecretSchema = Type.Object({
  ...EndpointSchema.properties,
  secret: Type.String({ description: 'whsec_...: shown once; verify signatures with it' })
})

const CreatedEndpointSchema = Type.Object({
  ...EndpointSchema.properties,
  secret: Type.Union([Type.String(), Type.Null()], {
    description: 'whsec_...: shown once; verify signatures with it. A retry with the same Idempotency-Key (24 h) shows it again while it still signs, else null with secretHint'
  }),
  secretHint: Type.Optional(Type.String({ description: 'Only on a retry whose secret no longer signs: how to get a new one' }))
})

const UrlSchema = Type.String({ minLength: 8, maxLength: 2048, description: 'http(s) URL of the receiver' })
const DescriptionSchema = Type.String({ maxLength: 500 })
const EndpointParams = Type.Object({ endpointId: UuidParam })
const MessageParams = Type.Object({ messageId: UuidParam })
const ProblemRef = { $ref: 'Problem#' }
const config = { tenantOnly: true, scope: 'webhooks:manage' as const }

const webhooks: FastifyPluginAsyncTypebox = async (fastify) => {
  const { webhooks, webhookDelivery } = fastify.domain

  // The answer to a creation holds the endpoint's only plain copy of its secret: the
  // idempotency record keeps the endpoint and a digest of the secret, and a retry reads the
  // secret from the endpoint's encrypted secrets (src/plugins/idempotency.ts).
  // the plugin's own contract for a route whose answer holds a secret (plugins/idempotency.ts)
  const createdReplay: NonNullable<FastifyContextConfig['idempotentReplay']> = {
    store: ({ secret, ...endpoint }) => ({ ...endpoint, secretDigest: secretDigest(String(secret)) }),
    replay: async (request, { secretDigest: digest, ...endpoint }) => {
      const secret = await webhooks.liveSecretByDigest(request.actor.tenantId, String(endpoint.id), String(digest))
      if (secret !== null) return { ...endpoint, secret }
      return { ...endpoint, secret: null, secretHint: `The secret this endpoint was created with no longer signs (rotated, or the endpoint was deleted); POST /v1/webhooks/endpoints/${String(endpoint.id)}/rotate-secret gives a new one` }
    }
  }

  fastify.post('/endpoints', {
    config: { ...config, idempotent: true, idempotentReplay: createdReplay },
    schema: {
      tags: ['webhooks'],
      operationId: 'createWebhookEndpoint',
      summary: 'Add a webhook endpoint (the answer carries its secret, once)',
      headers: HeadersSchema,
      body: Type.Object({ url: UrlSchema, events: Type.Optional(Type.Array(EventTypeSchema, { maxItems: 10 })), description: Type.Optional(DescriptionSchema) }, {
        additionalProperties: false,
        examples: [{ url: 'https://hooks.example.com/nemo', events: ['export.completed', 'export.failed'], description: 'renders' }]
      }),
      response: withProblems({ 201: CreatedEndpointSchema, 422: ProblemRef })
    }
  }, async (request, reply) => {
    const created = await webhooks.create(request.actor.tenantId, request.body)
    return await reply.code(201).header('location', `/v1/webhooks/endpoints/${created.id}`).send(created)
  })

  fastify.get('/endpoints', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'listWebhookEndpoints',
      summary: 'The tenant\'s webhook endpoints, newest first',
      headers: HeadersSchema,
      querystring: PageQuerySchema,
      response: withProblems({ 200: Type.Object({ items: Type.Array(EndpointSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) })
    }
  }, async (request) => await webhooks.list(request.actor.tenantId, request.query))

  fastify.get('/endpoints/:endpointId', {
    config,
    schema: { tags: ['webhooks'], operationId: 'getWebhookEndpoint', summary: 'One webhook endpoint', headers: HeadersSchema, params: EndpointParams, response: withProblems({ 200: EndpointSchema }) }
  }, async (request) => await webhooks.get(request.actor.tenantId, request.params.endpointId))

  fastify.patch('/endpoints/:endpointId', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'updateWebhookEndpoint',
      summary: 'Change an endpoint\'s URL, events or description, or enable/disable it',
      headers: HeadersSchema,
      params: EndpointParams,
      body: Type.Object({
        url: Type.Optional(UrlSchema),
        events: Type.Optional(Type.Array(EventTypeSchema, { maxItems: 10 })),
        description: Type.Optional(DescriptionSchema),
        enabled: Type.Optional(Type.Boolean())
      }, { additionalProperties: false, examples: [{ enabled: true }] }),
      response: withProblems({ 200: EndpointSchema, 422: ProblemRef })
    }
  }, async (request) => await webhooks.update(request.actor.tenantId, request.params.endpointId, request.body))

  fastify.delete('/endpoints/:endpointId', {
    config,
    schema: { tags: ['webhooks'], operationId: 'deleteWebhookEndpoint', summary: 'Remove an endpoint and its messages', headers: HeadersSchema, params: EndpointParams, response: withProblems({ 204: Type.Null() }) }
  }, async (request, reply) => {
    await webhooks.remove(request.actor.tenantId, request.params.endpointId)
    return await reply.code(204).send(null)
  })

  fastify.post('/endpoints/:endpointId/rotate-secret', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'rotateWebhookSecret',
      summary: 'A new secret; the old one keeps signing (both signatures are sent) for the overlap',
      headers: HeadersSchema,
      params: EndpointParams,
      body: Type.Optional(Type.Object({ overlapSeconds: Type.Optional(Type.Integer({ minimum: 0, maximum: 7 * 24 * 3600 })) }, { additionalProperties: false, examples: [{ overlapSeconds: 86400 }] })),
      response: withProblems({ 200: Type.Object({ ...EndpointWithSecretSchema.properties, previousSecretExpiresAt: DateTime }) })
    }
  }, async (request) => {
    const overlap = request.body?.overlapSeconds
    return await webhooks.rotateSecret(request.actor.tenantId, request.params.endpointId, overlap === undefined ? undefined : overlap * 1000)
  })

  fastify.get('/endpoints/:endpointId/messages', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'listWebhookMessages',
      summary: 'Messages sent (or being sent) to an endpoint, newest first',
      headers: HeadersSchema,
      params: EndpointParams,
      querystring: defaulted(Type.Object({
        status: Type.Optional(Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')])),
        cursor: Type.Optional(PageCursorSchema),
        limit: PageLimitSchema
      })),
      response: withProblems({ 200: Type.Object({ items: Type.Array(MessageSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) })
    }
  }, async (request) => await webhooks.messages(request.actor.tenantId, request.params.endpointId, request.query))

  fastify.post('/endpoints/:endpointId/recover', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'recoverWebhookMessages',
      summary: 'Send every failed message since a time again, on the normal retry schedule',
      headers: HeadersSchema,
      params: EndpointParams,
      body: Type.Object({ since: TimeInputSchema, until: Type.Optional(TimeInputSchema) }, { additionalProperties: false, examples: [{ since: '2026-12-01T00:00:00Z' }] }),
      response: withProblems({ 202: Type.Object({ recovered: Type.Integer() }) })
    }
  }, async (request, reply) => {
    const since = new Date(request.body.since)
    const until = request.body.until === undefined ? undefined : new Date(request.body.until)
    const recovered = await webhooks.recover(request.actor.tenantId, request.params.endpointId, since, until)
    return await reply.code(202).send({ recovered })
  })

  fastify.post('/endpoints/:endpointId/test', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'sendWebhookTestEvent',
      summary: 'Send a webhook.test event to this endpoint now (whatever its event filter); answers with the message',
      headers: HeadersSchema,
      params: EndpointParams,
      response: withProblems({ 202: MessageSchema, 409: ProblemRef })
    }
  }, async (request, reply) => await reply.code(202).send(await webhooks.sendTest(request.actor.tenantId, request.params.endpointId)))

  fastify.get('/messages/:messageId', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'getWebhookMessage',
      summary: 'One message with its attempt log',
      headers: HeadersSchema,
      params: MessageParams,
      response: withProblems({ 200: Type.Object({ ...MessageSchema.properties, attemptLog: Type.Array(AttemptSchema) }) })
    }
  }, async (request) => await webhooks.message(request.actor.tenantId, request.params.messageId))

  fastify.post('/messages/:messageId/replay', {
    config,
    schema: {
      tags: ['webhooks'],
      operationId: 'replayWebhookMessage',
      summary: 'Send one message again now (same webhook-id); answers with the attempt',
      headers: HeadersSchema,
      params: MessageParams,
      response: withProblems({ 200: AttemptSchema, 409: ProblemRef })
    }
  }, async (request) => await webhookDelivery.replay(request.actor.tenantId, request.params.messageId))
}

export default webhooks
