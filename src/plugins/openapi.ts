// The OpenAPI document is generated from the route schemas, so it cannot drift from the
// code; `npm run openapi` writes it to openapi/openapi.json and a test checks the copy.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { catalog, type GwCode } from '../errors.ts'
import { ProblemSchema } from '../routes/schemas.ts'

const PROBLEM = { $ref: 'Problem#' }
const PROBLEM_MEDIA_TYPE = 'application/problem+json'

/**
 * The errors the shared layers can answer on any operation, whatever the route declares:
 * validation (400), credentials (401; 403 for the admin token), the rate limit and the
 * failed-authentication throttle (429), an internal error (500), an unavailable database or
 * load shedding (503), and for operations with a body its size and type (413, 415).
 */
function sharedProblems (path: string, hasBody: boolean): Record<number, unknown> {
  if (path.startsWith('/health/')) return { 503: PROBLEM }
  const out: Record<number, unknown> = { 400: PROBLEM, 401: PROBLEM, 404: PROBLEM, 429: PROBLEM, 500: PROBLEM, 503: PROBLEM }
  if (path.startsWith('/admin/')) out[403] = PROBLEM
  if (hasBody) Object.assign(out, { 413: PROBLEM, 415: PROBLEM })
  return out
}

/** "GW_ERR_VALIDATION, GW_ERR_BAD_REQUEST": the codes a status can carry, as its description. */
function codesOf (status: number): string {
  const codes = (Object.keys(catalog) as GwCode[]).filter((c) => catalog[c].status === status)
  return codes.length > 0 ? `Problem: ${codes.join(', ')}` : 'Problem'
}

interface OpenApiResponse { description?: string, content?: Record<string, unknown> }

/** Error responses are served as application/problem+json: the document says so too. */
function problemMediaTypes (document: { paths?: Record<string, Record<string, { responses?: Record<string, OpenApiResponse> }>> }): void {
  for (const operations of Object.values(document.paths ?? {})) {
    for (const operation of Object.values(operations)) {
      for (const [status, response] of Object.entries(operation.responses ?? {})) {
        if (Number(status) < 400 || response.content === undefined) continue
        const schema = Object.values(response.content)[0]
        response.content = { [PROBLEM_MEDIA_TYPE]: schema }
        if (response.description === undefined || response.description === 'Default Response') response.description = codesOf(Number(status))
      }
    }
  }
}

async function openapi (fastify: FastifyInstance): Promise<void> {
  fastify.addSchema(ProblemSchema)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'nemo-gateway',
        version: '0.1.0',
        description: 'A multi-tenant gateway to the Nemo cloud video API. Every error is RFC 9457 application/problem+json with a stable GW_ERR_* code. ' +
          'A method a path does not serve answers 405 GW_ERR_METHOD_NOT_ALLOWED with an Allow header.'
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
      const response = { ...sharedProblems(path, schema?.body !== undefined), ...(schema?.response as object | undefined) }
      return { schema: { ...schema, response, ...(security ? { security } : {}) } as typeof schema, url: path }
    },
    transformObject: (document) => {
      const openapiObject = 'openapiObject' in document ? document.openapiObject : {}
      problemMediaTypes(openapiObject as Parameters<typeof problemMediaTypes>[0])
      return openapiObject
    },
    refResolver: { buildLocalReference: (json, _baseUri, _fragment, i) => String(json.$id ?? `def-${i}`) }
  })
  await fastify.register(swaggerUi, { routePrefix: '/docs' })
  fastify.get('/openapi.json', { schema: { hide: true } }, async () => fastify.swagger())
}

export default fp(openapi, { name: 'openapi' })
