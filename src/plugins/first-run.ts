// First run on the embedded database: with no tenant yet, create `default` and print one API
// key once, so `npm start` on a fresh clone is usable at once. The key goes to the announce
// callback (the console), never to the log, and only once the server listens: a start that
// fails (port taken) creates nothing, so the next start prints the key. A later start that
// finds `default` without a usable key says how to issue one.
//
// NEMO_TOKEN (an upstream token the team already holds): the default tenant takes it into its
// registered pool, checked with the upstream as the admin route does, and switches to
// registered mode, so the first call needs no admin step. Done at every start until it took.
import fp from 'fastify-plugin'
import type { FastifyInstance } from 'fastify'
import { publicBaseUrl } from '../config.ts'
import { isGatewayError } from '../errors.ts'

interface FirstRunOptions {
  announce?: (text: string) => void
}

const DEFAULT_TENANT = 'default'

async function firstRun (fastify: FastifyInstance, opts: FirstRunOptions): Promise<void> {
  const { config, domain } = fastify
  const announce = opts.announce
  if (!announce) return
  const firstRunHere = config.DATABASE_URL === undefined && config.FIRST_RUN_TENANT

  fastify.addHook('onListen', async () => {
    const address = fastify.server.address()
    const base = publicBaseUrl(config, typeof address === 'object' && address ? address.port : config.PORT)
    let tenant = await domain.tenants.findByName(DEFAULT_TENANT)
    const lines: string[] = []
    if (tenant === null && firstRunHere && await domain.tenants.count() === 0) {
      tenant = await domain.tenants.create({ name: DEFAULT_TENANT })
      const key = await domain.apiKeys.issue(tenant.id, { name: 'first run' })
      fastify.log.info({ tenantId: tenant.id, keyId: key.keyId }, 'first run: created the default tenant and one API key')
      lines.push(
        '',
        'First run: created tenant "default" and this API key (shown once, store it now):',
        '',
        `    ${key.key}`,
        '',
        'Use it like this:',
        `    curl -H "Authorization: Bearer ${key.key}" -H "X-User-Id: alice" ${base}/v1/credits`,
        ''
      )
    } else if (tenant !== null && firstRunHere && !(await hasUsableKey(fastify, tenant.id))) {
      lines.push(
        '',
        'The tenant "default" has no usable API key (the first-run key is shown only once). Issue one with:',
        '',
        '    npm run admin -- keys issue default',
        ''
      )
    }
    if (config.NEMO_TOKEN !== undefined) {
      const said = tenant === null ? 'NEMO_TOKEN is set but there is no tenant "default" to take it; register it with: npm run admin -- tokens register <tenant> "$NEMO_TOKEN"' : await takeNemoToken(fastify, tenant.id, config.NEMO_TOKEN)
      if (said !== undefined) lines.push(said, '')
    }
    if (lines.length > 0) announce(lines.join('\n'))
  })
}

async function hasUsableKey (fastify: FastifyInstance, tenantId: string): Promise<boolean> {
  const now = new Date()
  return (await fastify.domain.apiKeys.list(tenantId)).some((k) => k.revokedAt === null && (k.expiresAt === null || k.expiresAt > now))
}

/** What to tell the operator about NEMO_TOKEN, or undefined when it is in the pool already. */
async function takeNemoToken (fastify: FastifyInstance, tenantId: string, token: string): Promise<string | undefined> {
  const { tokenRegistry, tenants } = fastify.domain
  try {
    await tokenRegistry.register(tenantId, { token, label: 'NEMO_TOKEN' })
  } catch (err) {
    if (isGatewayError(err) && err.code === 'GW_ERR_CONFLICT') {
      await tenants.update(tenantId, { tokenMode: 'registered' })
      return undefined
    }
    const reason = isGatewayError(err) ? `${err.code}: ${err.message}` : (err as Error).message
    fastify.log.warn({ reason }, 'NEMO_TOKEN was not taken')
    return `NEMO_TOKEN was not taken into the default tenant's pool (${reason}); the next start tries again.`
  }
  await tenants.update(tenantId, { tokenMode: 'registered' })
  fastify.log.info({ tenantId }, 'NEMO_TOKEN registered in the default tenant\'s pool')
  return 'NEMO_TOKEN: the default tenant uses your upstream token (registered mode); every end user\'s calls share it.'
}

export default fp(firstRun, { name: 'first-run', dependencies: ['domain'] })
