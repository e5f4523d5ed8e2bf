// A stand-alone Fastify app that plays the Nemo upstream (mega-api-prod) for tests, benchmarks
// and local development. It never listens: server.ts does, and tests listen on port 0. Quirks
// are deliberate: the upstream answers in three envelopes ({code,message,data}, {success,data},
// FastAPI {detail}) and the simulator keeps each where the contract puts it.
import Fastify, { type FastifyError, type FastifyInstance, type FastifyServerOptions } from 'fastify'
import multipart from '@fastify/multipart'
import { resolveOptions, type SimulatorOptions } from './config.ts'
import { SimContext } from './context.ts'
import { fail } from './guard.ts'
import authRoutes from './routes/auth.ts'
import controlRoutes from './routes/control.ts'
import renderRoutes from './routes/render.ts'
import runSseRoutes from './routes/run-sse.ts'
import sessionRoutes from './routes/sessions.ts'
import uploadRoutes from './routes/upload.ts'

export type { SimulatorOptions, } from './config.ts'

const INVALID_JSON = 'SIM_INVALID_JSON'

export async function buildSimulator (
  opts: Partial<SimulatorOptions> = {},
  server: FastifyServerOptions = {}
): Promise<FastifyInstance> {
  const ctx = new SimContext(resolveOptions(opts))
  const app = Fastify({ logger: false, bodyLimit: 50 * 1024 * 1024, ...server })

  // Clients send `Content-Type: application/json` with no body to body-less endpoints
  // (anonymous-token, cancel); the real upstream does not mind, so neither may the simulator.
  app.removeContentTypeParser('application/json')
  app.addContentTypeParser('application/json', { parseAs: 'string' }, (_req, body, done) => {
    if (body === '') return done(null, undefined)
    try {
      done(null, JSON.parse(body as string))
    } catch (err) {
      done(Object.assign(new Error((err as Error).message), { statusCode: 400, code: INVALID_JSON }), undefined)
    }
  })
  // Size limits are the upload route's business (uploadMaxBytes -> 4002), not busboy's.
  await app.register(multipart, { limits: { fileSize: Infinity, files: 1000, parts: 2000 }, throwFileSizeLimit: false })

  app.setErrorHandler((err: FastifyError, request, reply) => {
    if (err.code === INVALID_JSON) {
      if (request.url.startsWith('/run_sse')) {
        return reply.code(422).send({ detail: [{ type: 'json_invalid', loc: ['body', 0], msg: 'JSON decode error', input: {}, ctx: { error: err.message } }] })
      }
      if (!request.url.startsWith('/__sim/')) return reply.code(400).send(fail(400, 'invalid JSON body'))
    }
    if ((err.statusCode ?? 500) >= 500) request.log.error({ err }, 'simulator error')
    return reply.send(err)
  })
  app.setNotFoundHandler((_request, reply) => reply.code(404).send({ detail: 'Not Found' }))
  app.addHook('preClose', async () => ctx.closeAll())

  for (const routes of [authRoutes, sessionRoutes, runSseRoutes, uploadRoutes, renderRoutes]) {
    await app.register(routes, { ctx })
  }
  await app.register(controlRoutes, { ctx })
  return app
}
