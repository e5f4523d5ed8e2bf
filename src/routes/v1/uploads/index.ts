// Files of a session. POST takes multipart (one or more `files` parts), streamed through to
// the upstream as they arrive, or JSON {urls} for files the upstream fetches itself.
// @fastify/multipart is registered here only, in stream mode: no toBuffer, no disk, no
// attachFieldsToBody; the 1 MB JSON body limit does not apply to multipart.
import { Socket } from 'node:net'
import multipart from '@fastify/multipart'
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import type { FastifyReply, FastifyRequest } from 'fastify'
import { Type, type Static } from 'typebox'
import { gwError } from '../../../errors.ts'
import { ACCEPTED_FILE_TYPES_TEXT } from '../../../nemo/file-types.ts'
import type { IncomingFile } from '../../../domain/uploads/index.ts'
import { FILE_URL_PATTERN } from '../../../domain/uploads/index.ts'
import { PageQuerySchema, TenantHeadersSchema, UuidParam, withProblems } from '../../schemas.ts'
import { UploadSchema } from '../../../schemas/upload.ts'

const UrlUploadSchema = Type.Object({
  urls: Type.Array(Type.String({
    format: 'uri',
    pattern: FILE_URL_PATTERN,
    maxLength: 2048,
    description: 'An http(s) URL whose last path segment names a file of an accepted type (e.g. https://example.com/clip.mp4)'
  }), { minItems: 1, maxItems: 20 })
}, { additionalProperties: false, examples: [{ urls: ['https://example.com/clip.mp4'] }] })

// Documents the form for OpenAPI only: a streamed multipart request has no parsed body, and a
// schema without keywords holds for that, so validation never touches the stream.
const MultipartSchema = Type.Unsafe<undefined>({
  description: 'One or more files (format binary) in the repeated field "files"'
})

const Params = Type.Object({ sessionId: UuidParam })

const MAX_FILES = 20
const STREAM_BUFFER = 1024 * 1024

/** The request's file parts as they arrive (other fields are skipped). */
async function * incomingFiles (request: FastifyRequest): AsyncGenerator<IncomingFile> {
  for await (const part of request.files()) yield { filename: part.filename, stream: part.file }
}

const LINGER_MS = 2000

/**
 * After a refusal mid-body, the rest is not wanted: the connection closes after the answer.
 * Not at once, though: closing with unread bytes makes the kernel reset the connection, and a
 * caller still sending would lose the answer with it. So what still arrives is read and
 * dropped for a moment after the answer (a half-close), then the socket goes.
 */
function closeAfterAnswer (request: FastifyRequest, reply: FastifyReply): void {
  const req = request.raw
  const socket = req.socket
  if (!(socket instanceof Socket)) return // light-my-request has no connection to close
  req.unpipe()
  req.resume()
  reply.raw.once('close', () => {
    socket.end()
    const timer = setTimeout(() => socket.destroy(), LINGER_MS)
    timer.unref()
    socket.once('close', () => clearTimeout(timer))
  })
}

const uploads: FastifyPluginAsyncTypebox = async (fastify) => {
  const { uploads } = fastify.domain
  const maxBytes = fastify.config.UPLOAD_MAX_BYTES

  await fastify.register(multipart, {
    // one byte more than allowed, so the upload path sees the breach and answers it itself
    limits: { fileSize: maxBytes + 1, files: MAX_FILES, fields: 20, parts: MAX_FILES + 20, fieldSize: 64 * 1024 },
    // busboy's 16 KiB defaults pause the socket on every 64 KiB read; 1 MiB keeps it flowing
    highWaterMark: STREAM_BUFFER,
    fileHwm: STREAM_BUFFER
  })

  fastify.post('/', {
    config: { scope: 'uploads:write', idempotent: true },
    schema: {
      tags: ['uploads'],
      operationId: 'uploadFiles',
      summary: 'Upload files to the session',
      description: `multipart/form-data with up to ${MAX_FILES} files in the field "files" (streamed through, each up to UPLOAD_MAX_BYTES), ` +
        `or JSON {"urls": [...]} for files the upstream fetches. Accepted: ${ACCEPTED_FILE_TYPES_TEXT}. ` +
        'The extension and the leading bytes must agree (415 otherwise); a file over the limit is 413. ' +
        'Progress is logged to the session\'s events as upload.progress, then upload.completed or upload.failed.',
      headers: TenantHeadersSchema,
      params: Params,
      body: { content: { 'application/json': { schema: UrlUploadSchema }, 'multipart/form-data': { schema: MultipartSchema } } },
      response: withProblems({
        201: Type.Object({ uploadRef: Type.String({ format: 'uuid' }), items: Type.Array(UploadSchema) }),
        402: { $ref: 'Problem#' },
        413: { $ref: 'Problem#' },
        415: { $ref: 'Problem#' }
      })
    }
  }, async (request, reply) => {
    const { sessionId } = request.params
    if (!request.isMultipart()) {
      const body = request.body as Static<typeof UrlUploadSchema> | undefined
      if (body?.urls === undefined) throw gwError('GW_ERR_VALIDATION', 'Send multipart/form-data with files in the field "files", or JSON {"urls": [...]}')
      return await reply.code(201).send(await uploads.uploadUrls(request.actor, sessionId, body.urls))
    }

    // the caller going away mid-body aborts the upstream request (once the body is complete
    // the upload finishes server-side, since the upstream has it all by then)
    const caller = new AbortController()
    const onClose = (): void => {
      if (request.raw.aborted) caller.abort(gwError('GW_ERR_BAD_REQUEST', 'The caller closed the connection during the upload'))
    }
    request.raw.once('close', onClose)
    try {
      const result = await uploads.uploadFiles(request.actor, sessionId, incomingFiles(request), { signal: caller.signal })
      return await reply.code(201).send(result)
    } catch (err) {
      if (!request.raw.complete) closeAfterAnswer(request, reply)
      throw err
    } finally {
      request.raw.off('close', onClose)
    }
  })

  fastify.get('/', {
    config: { scope: 'sessions:read' },
    schema: {
      tags: ['uploads'],
      operationId: 'listUploads',
      summary: 'The session\'s uploads, newest first',
      headers: TenantHeadersSchema,
      params: Params,
      querystring: PageQuerySchema,
      response: withProblems({ 200: Type.Object({ items: Type.Array(UploadSchema), nextCursor: Type.Union([Type.String(), Type.Null()]) }) })
    }
  }, async (request) => await uploads.list(request.actor, request.params.sessionId, request.query))
}

export default uploads
