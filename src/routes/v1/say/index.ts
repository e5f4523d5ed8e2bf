// One sentence from a person, routed to the operation it names or to a chat turn.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MessageTextSchema } from '../../../inputs.ts'
import { TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'

const SayResultSchema = Type.Object({
  action: Type.Union([Type.Literal('export'), Type.Literal('credits'), Type.Literal('state'), Type.Literal('upload'), Type.Literal('chat')]),
  message: Type.String(),
  exportable: Type.Optional(Type.Boolean()),
  summary: Type.Optional(Type.String()),
  credits: Type.Optional(Type.Unknown()),
  state: Type.Optional(Type.Unknown()),
  upload: Type.Optional(Type.Unknown()),
  turn: Type.Optional(Type.Unknown()),
  export: Type.Optional(Type.Unknown({ description: 'The export that was started (action export)' }))
}, { $id: 'SayResult' })

const say: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    config: { scope: 'turns:write', idempotent: true },
    schema: {
      tags: ['sessions'],
      summary: 'Say something: routed to export, credits, state, upload help or a chat turn',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      body: Type.Object({ text: MessageTextSchema }, { additionalProperties: false }),
      response: withProblems({ 200: SayResultSchema, 202: SayResultSchema, 409: { $ref: 'Problem#' }, 422: { $ref: 'Problem#' } })
    }
  }, async (request, reply) => {
    const result = await fastify.domain.say.handle(request.actor, request.params.sessionId, request.body.text, request.idempotency?.key)
    // an export is a job that has only started
    return await reply.code(result.action === 'export' ? 202 : 200).send(result)
  })
}

export default say
