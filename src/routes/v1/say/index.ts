// One sentence from a person, routed to the operation it names or to a chat turn.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MessageTextSchema } from '../../../inputs.ts'
import { TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'

const SayResultSchema = Type.Object({
  action: Type.Union(['export', 'credits', 'state', 'upload', 'chat'].map(a => Type.Literal(a))),
  message: Type.String(),
  exportable: Type.Optional(Type.Boolean()),
  summary: Type.Optional(Type.String()),
  credits: Type.Optional(Type.Unknown()),
  state: Type.Optional(Type.Unknown()),
  upload: Type.Optional(Type.Unknown()),
  turn: Type.Optional(Type.Unknown())
}, { $id: 'SayResult' })

const say: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    config: { idempotent: true },
    schema: {
      tags: ['sessions'],
      summary: 'Say something: routed to export, credits, state, upload help or a chat turn',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      body: Type.Object({ text: MessageTextSchema }, { additionalProperties: false }),
      response: withProblems({ 200: SayResultSchema, 409: { $ref: 'Problem#' } })
    }
  }, async (request) => await fastify.domain.say.handle(request.actor, request.params.sessionId, request.body.text))
}

export default say
