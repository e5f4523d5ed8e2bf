// First run on the embedded database: with no tenant yet, create `default` and print one API
// key once, so `npm start` on a fresh clone is usable at once. The key goes to the announce
// callback (the console), never to the log.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { publicBaseUrl } from '../config.ts'

export interface FirstRunOptions {
  announce?: (text: string) => void
}

async function firstRun (fastify: FastifyInstance, opts: FirstRunOptions): Promise<void> {
  const { config, domain } = fastify
  if (config.DATABASE_URL || !config.FIRST_RUN_TENANT || !opts.announce) return
  if (await domain.tenants.count() > 0) return
  const tenant = await domain.tenants.create({ name: 'default' })
  const key = await domain.apiKeys.issue(tenant.id, { name: 'first run' })
  // announced once the server listens, so the example names the real address
  fastify.addHook('onListen', async () => {
    const address = fastify.server.address()
    const base = publicBaseUrl(config, typeof address === 'object' && address ? address.port : config.PORT)
    opts.announce?.([
      '',
      'First run: created tenant "default" and this API key (shown once, store it now):',
      '',
      `    ${key.key}`,
      '',
      'Use it like this:',
      `    curl -H "Authorization: Bearer ${key.key}" -H "X-User-Id: alice" ${base}/v1/credits`,
      ''
    ].join('\n'))
  })
  fastify.log.info({ tenantId: tenant.id, keyId: key.keyId }, 'first run: created the default tenant and one API key')
}

export default fp(firstRun, { name: 'first-run', dependencies: ['domain'] })
