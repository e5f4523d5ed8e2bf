// The OpenAPI document is generated from the route schemas, so it cannot drift from the
// code; `npm run openapi` writes it to openapi/openapi.json and a test checks the copy.
import fp from 'fastify-plugin'
import swagger from '@fastify/swagger'
import swaggerUi from '@fastify/swagger-ui'
import type { FastifyInstance } from 'fastify'
import { catalog, type GwCode } from '../errors.ts'
import { ProblemSchema } from '../routes/schemas.ts'
import { SESSION_EVENT_SCHEMAS, SessionEventTypedSchema } from '../schemas/event.ts'
import { SAY_RESULT_SCHEMAS, SayResultSchema } from '../schemas/say.ts'

const PROBLEM = { $ref: 'Problem#' }
const PROBLEM_MEDIA_TYPE = 'application/problem+json'
/**
 * OpenAPI has no place for the methods a path does not serve, so each operation of the path
 * documents the 405 that those methods answer, with the Allow header listing the served ones.
 */
const METHOD_NOT_ALLOWED = {
  description: 'Problem: GW_ERR_METHOD_NOT_ALLOWED. A method this path does not serve; Allow lists the ones it does',
  headers: { allow: { type: 'string', description: 'The methods this path serves, e.g. GET, HEAD, POST' } },
  content: { [PROBLEM_MEDIA_TYPE]: { schema: PROBLEM } }
}

/**
 * The errors the shared layers can answer on any operation, whatever the route declares:
 * validation (400), credentials (401; 403 for the admin token, or a missing scope), the rate limit and the
 * failed-authentication throttle (429), an internal error (500), an unavailable database or
 * load shedding (503), and for operations with a body its size and type (413, 415).
 */
function sharedProblems (path: string, hasBody: boolean): Record<number, unknown> {
  if (path.startsWith('/health/')) return { 405: METHOD_NOT_ALLOWED, 503: PROBLEM }
  const out: Record<number, unknown> = { 400: PROBLEM, 401: PROBLEM, 404: PROBLEM, 405: METHOD_NOT_ALLOWED, 429: PROBLEM, 500: PROBLEM, 503: PROBLEM }
  // the admin token; on /v1 a credential without the scope an operation needs (GW_ERR_SCOPE_REQUIRED)
  if (path.startsWith('/admin/') || path.startsWith('/v1/')) out[403] = PROBLEM
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
  // the unions (a log event by type, a say answer by action) name their members: shared
  for (const schema of [...SESSION_EVENT_SCHEMAS, SessionEventTypedSchema, ...SAY_RESULT_SCHEMAS, SayResultSchema]) fastify.addSchema(schema)
  await fastify.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'nemo-gateway',
        version: '0.1.0',
        license: { name: 'Proprietary: all rights reserved (the package is private, UNLICENSED)', identifier: 'LicenseRef-Proprietary' },
        description: 'A multi-tenant gateway to the Nemo cloud video API. Every error is RFC 9457 application/problem+json with a stable GW_ERR_* code. ' +
          'A method a path does not serve answers 405 GW_ERR_METHOD_NOT_ALLOWED with an Allow header.'
      },
      servers: [
        { url: '/', description: 'The gateway that serves this document' },
        { url: 'http://127.0.0.1:3000', description: 'A local gateway (`npm start`, or `npm run demo`)' }
      ],
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
