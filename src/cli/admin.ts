// `npm run admin -- <command>`: the operator's CLI over the same domain services as the
// admin API. Uses DATABASE_URL, else the embedded database (the running gateway's, when one
// runs on this DATA_DIR, else it starts it for the duration of the command).
import { parseArgs } from 'node:util'
import { loadConfig, publicBaseUrl, type Config } from '../config.ts'
import { loadEncryptionKey } from '../db/encryption-key.ts'
import { applyMigrations } from '../db/migrate.ts'
import { localBus } from '../domain/events/index.ts'
import { buildDomain, type Domain } from '../domain/index.ts'
import { SigningKeys } from '../domain/tenancy/index.ts'
import { gwError } from '../errors.ts'
import { databaseErrorToGatewayError } from '../db/errors.ts'
import { openDatabase } from '../db/client.ts'
import { NemoClient } from '../nemo/client.ts'
import { consoleLog } from '../db/log.ts'
import { withCliDatabase } from './database.ts'
import { backupCommand } from './backup.ts'

const USAGE = `Usage: npm run admin -- <command>

  tenants create <name> [--mode anonymous|registered] [--budget N]
  tenants list
  tenants mode <tenant> anonymous|registered
  tenants origins <tenant> [ORIGIN ...]   (browser origins allowed; none given: none allowed)
  issuers add <tenant> <issuer> <jwksUrl> <audience> [--user-claim C] [--scope-claim C]
  issuers list <tenant>
  issuers remove <tenant> <issuerId>
  signing-keys rotate                     (a new client-token signing key; old tokens stay valid)
  tenants delete <tenant>                 (everything of the tenant; prints counts)
  users delete <tenant> <userId>          (the user's data; <userId> is the tenant's own id)
  keys issue <tenant> [--name NAME] [--scopes a,b,...]   (default *; e.g. sessions:read,events:read)
  keys list <tenant>
  keys revoke <key>
  keys rotate <key> [--overlap SECONDS]   (default 86400)
  tokens register <tenant> <upstream token> [--label L] [--expires ISO-DATE]
  tokens list <tenant>
  tokens remove <tenant> <credentialId>
  backup <file>                           (the whole database, one snapshot, into a new file)
  restore <file> [--force] [--ignore-key-mismatch]
                                          (into an empty database; --force replaces one that
                                           holds data; stop the gateway first)
  usage <tenant> [--from DAY] [--to DAY] [--group-by day|user] [--user USERID]
                                          (credits, turns, uploads, exports and webhook
                                           deliveries; days are UTC YYYY-MM-DD, default the
                                           last 30; --user: one end user, by the tenant's id)
  prune [--dry-run]                       (one retention pass now: deletes what is past its
                                           RETENTION_* age and prints the counts; --dry-run
                                           only counts)

<tenant> is a tenant id or name; <key> is a key's id, its keyId (ngw_<keyId>_...) or the
whole key. Output is JSON; an error is one line: GW_ERR_...: what went wrong.`

const invalid = (message: string) => gwError('GW_ERR_VALIDATION', message)

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

async function tenantId (domain: Domain, ref: string | undefined): Promise<string> {
  if (!ref) throw invalid('missing <tenant>')
  if (UUID.test(ref)) return (await domain.tenants.get(ref)).id
  const t = await domain.tenants.findByName(ref)
  if (!t) throw gwError('GW_ERR_NOT_FOUND', `no tenant named ${ref}`)
  return t.id
}

function mode (value: string | undefined): 'anonymous' | 'registered' {
  if (value === 'anonymous' || value === 'registered') return value
  throw invalid('the token mode is "anonymous" or "registered"')
}

function parseCommand (argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      options: {
        mode: { type: 'string' },
        budget: { type: 'string' },
        name: { type: 'string' },
        overlap: { type: 'string' },
        label: { type: 'string' },
        expires: { type: 'string' },
        'dry-run': { type: 'boolean' },
        from: { type: 'string' },
        to: { type: 'string' },
        'group-by': { type: 'string' },
        user: { type: 'string' },
        force: { type: 'boolean' },
        'ignore-key-mismatch': { type: 'boolean' },
        scopes: { type: 'string' },
        'user-claim': { type: 'string' },
        'scope-claim': { type: 'string' }
      }
    })
  } catch (err) {
    throw invalid((err as Error).message)
  }
}

/** Every failure as one line with its code; never a database or library message. */
export function cliErrorLine (err: unknown): string {
  const known = databaseErrorToGatewayError(err)
  if (known !== undefined && known.code !== 'GW_ERR_INTERNAL') return `${known.code}: ${known.message}`
  if (known === undefined && (err as NodeJS.ErrnoException).code === 'ECONNREFUSED') return `GW_ERR_UNAVAILABLE: the database is not reachable (${(err as Error).message})`
  return 'GW_ERR_INTERNAL: the command failed unexpectedly; run it again with LOG_LEVEL=debug for the details'
}

async function usageCommand (domain: Domain, tenant: string | undefined, values: { from?: string, to?: string, 'group-by'?: string, user?: string }): Promise<unknown> {
  const id = await tenantId(domain, tenant)
  const groupBy = values['group-by'] ?? 'day'
  if (groupBy !== 'day' && groupBy !== 'user') throw invalid('--group-by is "day" or "user"')
  let userId = ''
  if (values.user !== undefined) {
    // reading usage must not create the user it asks about
    const user = await domain.usage.userOf(id, values.user)
    if (user === null) throw gwError('GW_ERR_NOT_FOUND', `no user ${values.user} in this tenant`)
    userId = user
  }
  return await domain.usage.report({ tenantId: id, userId, externalUserId: values.user }, {
    ...(values.from === undefined ? {} : { from: values.from }),
    ...(values.to === undefined ? {} : { to: values.to }),
    groupBy
  })
}

export async function runAdmin (argv: string[], domain: Domain): Promise<unknown> {
  const { positionals, values } = parseCommand(argv)
  const [group, action, a, b, c, d] = positionals
  switch (`${group ?? ''} ${action ?? ''}`) {
    case 'tenants create':
      if (!a) throw invalid('missing <name>')
      return await domain.tenants.create({ name: a, tokenMode: values.mode ? mode(values.mode) : undefined, creditBudget: values.budget ? Number(values.budget) : undefined })
    case 'tenants list':
      return await domain.tenants.list()
    case 'tenants mode':
      return await domain.tenants.update(await tenantId(domain, a), { tokenMode: mode(b) })
    case 'tenants origins':
      return await domain.tenants.update(await tenantId(domain, a), { allowedOrigins: positionals.slice(3) })
    case 'issuers add':
      if (!b || !c || !d) throw invalid('usage: issuers add <tenant> <issuer> <jwksUrl> <audience>')
      return await domain.tokenIssuers.create(await tenantId(domain, a), { issuer: b, jwksUrl: c, audience: d, userClaim: values['user-claim'], scopeClaim: values['scope-claim'] })
    case 'issuers list':
      return await domain.tokenIssuers.list(await tenantId(domain, a))
    case 'issuers remove':
      if (!b || !UUID.test(b)) throw invalid('missing <issuerId> (issuers list shows the ids)')
      await domain.tokenIssuers.remove(await tenantId(domain, a), b)
      return { removed: b }
    case 'signing-keys rotate':
      return { kid: await domain.signingKeys.rotate() }
    case 'tenants delete':
      return await domain.deletions.deleteTenant(await tenantId(domain, a))
    case 'users delete':
      if (!b) throw invalid('missing <userId>')
      return await domain.deletions.deleteUser(await tenantId(domain, a), b)
    case 'keys issue':
      return await domain.apiKeys.issue(await tenantId(domain, a), { name: values.name, scopes: values.scopes?.split(',').map(s => s.trim()).filter(s => s !== '') })
    case 'keys list':
      return await domain.apiKeys.list(await tenantId(domain, a))
    case 'keys revoke':
      if (!a) throw invalid('missing <key>')
      return await domain.apiKeys.revoke(a)
    case 'keys rotate':
      if (!a) throw invalid('missing <key>')
      return await domain.apiKeys.rotate(a, values.overlap ? Number(values.overlap) : 86400)
    case 'tokens register':
      if (!b) throw invalid('missing <upstream token>')
      return await domain.tokenRegistry.register(await tenantId(domain, a), { token: b, label: values.label, expiresAt: values.expires ? new Date(values.expires) : null })
    case 'tokens list':
      return await domain.tokenRegistry.list(await tenantId(domain, a))
    case 'tokens remove':
      if (!b) throw invalid('missing <credentialId>')
      if (!UUID.test(b)) throw gwError('GW_ERR_NOT_FOUND', `no upstream token ${b} (tokens list shows the ids)`)
      return await domain.tokenRegistry.remove(await tenantId(domain, a), b)
    case `usage ${action ?? ''}`:
      return await usageCommand(domain, action, values)
    case 'prune ':
      return await domain.retention.prune({ dryRun: values['dry-run'] === true })
    default:
      if (group === undefined || group === 'help') return USAGE
      throw invalid(`unknown command "${[group, action].filter(Boolean).join(' ')}"; npm run admin -- help lists them`)
  }
}

async function main (config: Config): Promise<number> {
  const log = consoleLog(config.LOG_LEVEL === 'info' ? 'warn' : config.LOG_LEVEL)
  try {
    const argv = process.argv.slice(2)
    // backup and restore work on the database as it is: no migration first, no services
    const { positionals, values } = parseCommand(argv)
    const [command, file] = positionals
    if (command === 'backup' || command === 'restore') {
      const flags = { force: values.force === true, ignoreKeyMismatch: values['ignore-key-mismatch'] === true }
      console.log(JSON.stringify(await backupCommand(config, command, file, flags, log), null, 2))
      return 0
    }
    return await withCliDatabase(config, log, async (url) => {
      const { prisma, sql, close } = openDatabase(url)
      const nemo = NemoClient.fromConfig(config)
      try {
        await applyMigrations(url, undefined, log)
        const encryptionKey = await loadEncryptionKey({ configured: config.ENCRYPTION_KEY, dataDir: config.DATA_DIR, log })
        const say = (write: (msg: string) => void) => (obj: object, msg?: string) => write(msg ?? JSON.stringify(obj))
        const domainLog = { info: say(log.info), warn: say(log.warn), error: say(log.warn), debug: say(log.debug) }
        const signingKeys = await SigningKeys.load({ configured: config.TOKEN_SIGNING_KEY, retired: config.TOKEN_SIGNING_KEYS_RETIRED, dataDir: config.DATA_DIR, log: domainLog })
        const domain = buildDomain({ prisma, sql, nemo, config, encryptionKey, log: domainLog, bus: localBus(), publicBaseUrl: () => publicBaseUrl(config) }, signingKeys)
        const result = await runAdmin(argv, domain)
        console.log(typeof result === 'string' ? result : JSON.stringify(result, null, 2))
        return 0
      } finally {
        await close()
        await nemo.close()
      }
    })
  } catch (err) {
    log.debug(`admin command failed: ${(err as Error).stack ?? String(err)}`)
    console.error(cliErrorLine(err))
    return 1
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await main(loadConfig())
}
