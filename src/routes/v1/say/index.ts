// One sentence from a person, routed to the operation it names or to a chat turn.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { MessageTextSchema } from '../../../inputs.ts'
import { TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'

const SAY_RESULT = Type.Unsafe({ $ref: 'SayResult#' })

const say: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/', {
    config: { scope: 'turns:write', idempotent: true },
    // the answer is one of several shapes: it leaves as built (views hold only their fields)
    serializerCompiler: () => (data) => JSON.stringify(data),
    schema: {
      tags: ['sessions'],
      operationId: 'say',
      summary: 'Say something: routed to export, credits, state, upload help or a chat turn',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      body: Type.Object({ text: MessageTextSchema }, { additionalProperties: false, examples: [{ text: 'export it' }] }),
      response: withProblems({ 200: SAY_RESULT, 202: SAY_RESULT, 402: { $ref: 'Problem#' }, 409: { $ref: 'Problem#' }, 422: { $ref: 'Problem#' } })
    }
  }, async (request, reply) => {
    const result = await fastify.domain.say.handle(request.actor, request.params.sessionId, request.body.text, request.idempotency?.key)
    // an export is a job that has only started
    return await reply.code(result.action === 'export' ? 202 : 200).send(result)
  })
}

export default say
