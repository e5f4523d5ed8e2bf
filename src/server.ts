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
await fastify.register(app, { config, announce: (text) => process.stdout.write(text + '\n') })

closeWithGrace({ delay: 15_000 }, async ({ signal, err }) => {
  if (err) fastify.log.error({ err }, 'closing after an error')
  else fastify.log.info({ signal }, 'closing')
  await fastify.close()
})

try {
  await fastify.listen({ port: config.PORT, host: config.HOST })
  fastify.log.info({ startupMs: Math.round(performance.now() - started) }, 'nemo-gateway ready')
} catch (err) {
  fastify.log.fatal({ err }, 'could not start')
  await fastify.close().catch(() => {})
  process.exit(1)
}
