// The shapes of a webhook endpoint, message and attempt, written once: REST validates and
// serializes them, OpenAPI publishes them, the domain's views are Static<> of them (export.ts).
import { Type, type Static } from 'typebox'
import { DateTime } from './common.ts'

export const EndpointSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  url: Type.String(),
  description: Type.Union([Type.String(), Type.Null()]),
  events: Type.Array(Type.String(), { description: 'Event types sent here; empty means all' }),
  enabled: Type.Boolean(),
  disabledReason: Type.Union([Type.String(), Type.Null()]),
  disabledAt: Type.Union([DateTime, Type.Null()]),
  failingSince: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime,
  updatedAt: DateTime
}, { $id: 'WebhookEndpoint' })
export const MessageSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  webhookId: Type.String({ description: 'The webhook-id header: stable across retries' }),
  endpointId: Type.String({ format: 'uuid' }),
  eventType: Type.String(),
  payload: Type.Unknown(),
  status: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer(),
  nextAttemptAt: Type.Union([DateTime, Type.Null()]),
  deliveredAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime
}, { $id: 'WebhookMessage' })
export const AttemptSchema = Type.Object({
  id: Type.String(),
  trigger: Type.String({ description: 'scheduled or replay' }),
  statusCode: Type.Union([Type.Integer(), Type.Null()]),
  responseBody: Type.Union([Type.String(), Type.Null()], { description: 'The first 1 KiB of the answer' }),
  latencyMs: Type.Union([Type.Integer(), Type.Null()]),
  error: Type.Union([Type.String(), Type.Null()]),
  nextAttemptAt: Type.Union([DateTime, Type.Null()]),
  createdAt: DateTime
}, { $id: 'WebhookAttempt' })

export type EndpointView = Static<typeof EndpointSchema>
export type MessageView = Static<typeof MessageSchema>
export type AttemptView = Static<typeof AttemptSchema>
