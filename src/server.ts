// The process: config, logger, listen, graceful close. Nothing else lives here.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadConfig, type Config } from './config.ts'
import { serverOptions } from './options.ts'
import app from './app.ts'

let config: Config
try {
  config = loadConfig()
} catch (err) {
  console.error((err as Error).message)
  process.exit(1)
}

const started = performance.now()
const fastify = Fastify(serverOptions(config))

/** A start that fails says why in one line (the stack is logged at debug level only). */
async function cannotStart (err: unknown): Promise<never> {
  fastify.log.debug({ err }, 'could not start')
  process.stderr.write(`nemo-gateway could not start: ${(err as Error).message ?? String(err)}\n`)
  await fastify.close().catch(() => {})
  process.exit(1)
}

try {
  await fastify.register(app, { config, announce: (text) => process.stdout.write(text + '\n') })
} catch (err) {
  await cannotStart(err)
}

closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
  if (err) fastify.log.error({ err }, 'closing after an error')
  else fastify.log.info({ signal }, 'closing')
  await fastify.close()
})

try {
  await fastify.listen({ port: config.PORT, host: config.HOST })
  fastify.log.info({ startupMs: Math.round(performance.now() - started) }, 'nemo-gateway ready')
} catch (err) {
  await cannotStart(err)
}
