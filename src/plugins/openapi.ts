// The OpenAPI document is generated from the route schemas, so it cannot drift from the
// code; `npm run openapi` writes it to openapi/openapi.json and a test checks the copy.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { ProblemSchema } from '../routes/schemas.ts'

async function openapi (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ProblemSchema)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'nemo-gateway',
        version: '0.1.0',
        description: 'A multi-tenant gateway to the Nemo cloud video API. Every error is RFC 9457 application/problem+json with a stable GW_ERR_* code.'
      },
      components: {
        securitySchemes: {
          apiKey: { type: 'http', scheme: 'bearer', description: 'A tenant API key: ngw_<keyId>_<secret>' },
          admin: { type: 'http', scheme: 'bearer', description: 'The operator token (ADMIN_TOKEN)' }
        }
      },
      security: [{ apiKey: [] }]
    },
    // one spelling per path, and the right credentials per surface
    transform: ({ schema, url }) => {
      const path = url.length > 1 ? url.replace(/\/$/, '') : url
      const security = path.startsWith('/admin/') ? [{ admin: [] }] : path.startsWith('/health/') ? [] : undefined
      return { schema: (security ? { ...schema, security } : schema) as typeof schema, url: path }
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
}

export default fp(openapi, { name: 'openapi' })
