// Exports (render jobs): started on a session, then read, listed, cancelled and downloaded by
// their own id. The download URL is the gateway's and stable: once the gateway has archived
// the MP4 it serves its own copy (Range, ETag); until then it streams the upstream's file
// (Range passes through) or, with ?redirect=true, redirects to the upstream's file URL.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { ExportSchema, ExportStatusSchema } from '../../../schemas/export.ts'
import { PageCursorSchema, ResolutionSchema } from '../../../inputs.ts'
import { defaulted, PageLimitSchema, PageQuerySchema, TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'

const ExportPageSchema = Type.Object({ items: Type.Array(ExportSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) })

const StartExportSchema = Type.Object({
  format: Type.Optional(Type.Literal('mp4')),
  quality: Type.Optional(Type.Union([Type.Literal('high'), Type.Literal('medium'), Type.Literal('low')])),
  resolution: Type.Optional(ResolutionSchema)
}, { additionalProperties: false, examples: [{ quality: 'high', resolution: '1080p' }] })

const ExportParams = Type.Object({ exportId: UuidParam })

const DOWNLOAD_HEADERS = {
  'accept-ranges': { type: 'string', description: '`bytes`: a Range request answers 206' },
  'content-length': { type: 'integer', description: 'Bytes of this answer' },
  'content-disposition': { type: 'string', description: 'attachment; filename="export-<id>.mp4"' },
  etag: { type: 'string', description: 'The archived copy\'s sha256, once the gateway holds it' }
}
const ProblemRef = { $ref: 'Problem#' }

const exportsRoutes: FastifyPluginAsyncTypebox = async (fastify) => {
  const { exports } = fastify.domain

  fastify.post('/sessions/:sessionId/exports', {
    // the export keeps its key: a retry while the first call runs, or after its process died,
    // gets that export (202, as it is now) instead of 409
    config: { scope: 'exports:write', idempotent: 'resource' },
    schema: {
      tags: ['exports'],
      operationId: 'startExport',
      summary: 'Export the session\'s timeline to an MP4 (a render job)',
      description: 'Reads the latest timeline, refuses one with nothing to render (422 GW_ERR_NOTHING_TO_EXPORT), submits the render and answers 202 with the export. `nextPollAt` says when the gateway first asks the upstream for progress (EXPORT_POLL_INITIAL_MS, 30 s by default): progress stays at its first value until then. Follow it with GET /v1/exports/:id, the session\'s events (export.progress, export.completed) or a webhook.',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      body: Type.Optional(StartExportSchema),
      response: withProblems({ 202: ExportSchema, 402: ProblemRef, 422: ProblemRef })
    }
  }, async (request, reply) => {
    const key = request.idempotencyKey ?? undefined
    const started = await exports.start(request.actor, request.params.sessionId, request.body ?? {}, key)
    return await reply.code(202).header('location', `/v1/exports/${started.id}`).send(started)
  })

  fastify.get('/sessions/:sessionId/exports', {
    config: { scope: 'exports:read' },
    schema: {
      tags: ['exports'],
      operationId: 'listSessionExports',
      summary: 'The session\'s exports, newest first',
      headers: TenantHeadersSchema,
      params: Type.Object({ sessionId: UuidParam }),
      querystring: PageQuerySchema,
      response: withProblems({ 200: ExportPageSchema })
    }
  }, async (request) => await exports.list(request.actor, { ...request.query, sessionId: request.params.sessionId }))

  fastify.get('/exports', {
    config: { scope: 'exports:read' },
    schema: {
      tags: ['exports'],
      operationId: 'listExports',
      summary: 'The user\'s exports, newest first',
      headers: TenantHeadersSchema,
      querystring: defaulted(Type.Object({
        sessionId: Type.Optional(UuidParam),
        status: Type.Optional(ExportStatusSchema),
        cursor: Type.Optional(PageCursorSchema),
        limit: PageLimitSchema
      })),
      response: withProblems({ 200: ExportPageSchema })
    }
  }, async (request) => await exports.list(request.actor, request.query))

  fastify.get('/exports/:exportId', {
    config: { scope: 'exports:read' },
    schema: {
      tags: ['exports'],
      operationId: 'getExport',
      summary: 'One export',
      headers: TenantHeadersSchema,
      params: ExportParams,
      response: withProblems({ 200: ExportSchema })
    }
  }, async (request) => await exports.get(request.actor, request.params.exportId))

  fastify.post('/exports/:exportId/cancel', {
    config: { scope: 'exports:write', idempotent: true },
    schema: {
      tags: ['exports'],
      operationId: 'cancelExport',
      summary: 'Cancel an export that has not finished',
      headers: TenantHeadersSchema,
      params: ExportParams,
      response: withProblems({ 200: ExportSchema, 409: ProblemRef })
    }
  }, async (request) => await exports.cancel(request.actor, request.params.exportId))

  fastify.get('/exports/:exportId/download', {
    config: { scope: 'exports:read' },
    schema: {
      tags: ['exports'],
      operationId: 'downloadExport',
      summary: 'The rendered MP4',
      description: 'Streams the file: the gateway\'s archived copy once it is made (`archive.state` archived; Range requests answer 206 with Content-Range, ETag is the sha256), until then the upstream\'s file (Range passes through), or with ?redirect=true a 302 to the upstream\'s file URL while there is no archived copy. 409 GW_ERR_EXPORT_NOT_READY until the export has completed; 410 GW_ERR_EXPORT_EXPIRED once its archived file was deleted after OUTPUT_RETENTION_DAYS.',
      headers: Type.Object({ 'x-user-id': Type.String(), range: Type.Optional(Type.String()) }),
      params: ExportParams,
      querystring: Type.Object({ redirect: Type.Optional(Type.Boolean()) }),
      response: withProblems({
        200: { description: 'The whole MP4', headers: DOWNLOAD_HEADERS, content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } } },
        206: {
          description: 'The part of the MP4 the Range asked for',
          headers: { ...DOWNLOAD_HEADERS, 'content-range': { type: 'string', description: 'bytes <first>-<last>/<size>' } },
          content: { 'video/mp4': { schema: { type: 'string', format: 'binary' } } }
        },
        302: { description: 'With ?redirect=true while the gateway holds no copy: the upstream\'s file URL', headers: { location: { type: 'string', description: 'The upstream\'s file URL' } }, type: 'null' },
        409: ProblemRef,
        410: ProblemRef,
        416: ProblemRef
      })
    }
  }, async (request, reply) => {
    if (request.query.redirect === true) {
      const url = await exports.outputUrl(request.actor, request.params.exportId)
      if (url !== null) return await reply.redirect(url, 302)
    }
    const controller = new AbortController()
    request.raw.once('close', () => { if (!reply.raw.writableFinished) controller.abort() })
    const file = await exports.download(request.actor, request.params.exportId, {
      signal: controller.signal,
      ...(request.headers.range === undefined ? {} : { range: request.headers.range })
    })
    reply.code(file.status === 206 ? 206 : 200).type(file.contentType)
      .header('content-disposition', `attachment; filename="export-${request.params.exportId}.mp4"`)
    if (file.contentLength !== undefined) reply.header('content-length', file.contentLength)
    if (file.contentRange !== undefined) reply.header('content-range', file.contentRange)
    if (file.acceptRanges !== undefined) reply.header('accept-ranges', file.acceptRanges)
    if (file.etag !== undefined) reply.header('etag', file.etag)
    return await reply.send(file.stream)
  })
}

export default exportsRoutes
