// The gateway's client-token signing key: rotate it. Tokens signed by the old key keep
// working until they expire (its public key stays in /.well-known/jwks.json that long).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../../schemas.ts'

const signingKeys: FastifyPluginAsyncTypebox = async (fastify) => {
  fastify.post('/rotate', {
    schema: {
      tags: ['admin'],
      operationId: 'rotateSigningKey',
      summary: 'Sign new client tokens with a new key (DATA_DIR keys; with TOKEN_SIGNING_KEY, change the setting instead)',
      response: withProblems({ 200: Type.Object({ kid: Type.String() }), 409: { $ref: 'Problem#' } })
    }
  }, async () => ({ kid: await fastify.domain.signingKeys.rotate() }))
}

export default signingKeys
