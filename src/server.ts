// The process: config, logger, listen, graceful close. Nothing else lives here.
import Fastify from 'fastify'
import closeWithGrace from 'close-with-grace'
import { loadConfig, type Config } from './config.ts'
import { serverOptions } from './options.ts'
import app from './app.ts'
import { flushTelemetry } from './plugins/telemetry.ts'
import { settleAfterStart } from './observability/settle.ts'

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

// SIGTERM/SIGINT: a drain bounded by SHUTDOWN_TIMEOUT_MS. Fastify answers 503 to new requests
// (readiness included) at once; running turns get TURN_DRAIN_MS and then end as interrupted;
// SSE streams end with a `retry:` hint and WebSockets close with 1001 (clients resume by cursor
// on another instance); job workers stop taking work; telemetry is flushed last.
closeWithGrace({ delay: config.SHUTDOWN_TIMEOUT_MS }, async ({ signal, err }) => {
  if (err) fastify.log.error({ err }, 'closing after an error')
  else fastify.log.info({ signal }, 'draining')
  const began = performance.now()
  await fastify.close()
  fastify.log.info({ drainMs: Math.round(performance.now() - began) }, 'closed')
  await flushTelemetry()
})

try {
  await fastify.listen({ port: config.PORT, host: config.HOST })
  fastify.log.info({ startupMs: Math.round(performance.now() - started) }, 'nemo-gateway ready')
  // what the start grew and no longer needs goes back once it is over
  settleAfterStart(config.SETTLE_HEAP_AFTER_START_MS, fastify.log)
} catch (err) {
  await cannotStart(err)
}
