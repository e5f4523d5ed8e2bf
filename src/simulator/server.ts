// `npm run simulator`: the Nemo upstream simulator as a process. Options come from SIM_* env
// variables (see config.ts: SIM_SEED, SIM_FRAMING, SIM_GENERATION_MS, ...) and can be changed
// while it runs through POST /__sim/config.
import closeWithGrace from 'close-with-grace'
import { buildSimulator } from './app.ts'
import { envName, loadSimulatorConfig } from './config.ts'

const config = loadSimulatorConfig()
const app = await buildSimulator(config.options, { logger: { level: config.logLevel } })

closeWithGrace({ delay: 5000 }, async ({ signal, err }) => {
  if (err !== undefined) app.log.error({ err }, 'simulator crashed')
  else app.log.info({ signal }, 'simulator closing')
  await app.close()
})

await app.listen({ port: config.port, host: config.host })
app.log.info({ options: config.options, seedVar: envName('seed') }, 'Nemo simulator ready')
