import t from 'tap'
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { runAdmin } from '../../src/cli/admin.ts'
import { buildGateway } from '../helpers/app.ts'

const run = promisify(execFile)

t.test('the admin CLI drives the same services as the admin API', async (t) => {
  const gw = await buildGateway(t)
  const domain = gw.app.domain
  const tenant = await runAdmin(['tenants', 'create', 'acme', '--mode', 'registered', '--budget', '500'], domain) as { id: string, tokenMode: string }
  t.equal(tenant.tokenMode, 'registered')
  const issued = await runAdmin(['keys', 'issue', 'acme', '--name', 'ci'], domain) as { id: string, key: string }
  gw.secret(issued.key)
  const viaApi = await gw.admin({ method: 'GET', url: `/admin/v1/tenants/${tenant.id}/keys` })
  t.equal(viaApi.json().items[0].id, issued.id, 'the API sees what the CLI made')
  const rotated = await runAdmin(['keys', 'rotate', issued.id, '--overlap', '0'], domain) as { key: { key: string } }
  gw.secret(rotated.key.key)
  const listed = await runAdmin(['keys', 'list', tenant.id], domain) as Array<{ rotatedToId: string | null }>
  t.equal(listed.length, 2)
  await t.rejects(runAdmin(['tenants', 'mode', 'acme', 'sideways'], domain), /anonymous" or "registered/)
  await t.rejects(runAdmin(['nonsense'], domain), /unknown command "nonsense"/)
  t.match(await runAdmin([], domain), /^Usage: npm run admin/)
  const switched = await runAdmin(['tenants', 'mode', 'acme', 'anonymous'], domain) as { tokenMode: string }
  t.equal(switched.tokenMode, 'anonymous')
})

t.test('npm run admin works as a process against DATABASE_URL', async (t) => {
  const gw = await buildGateway(t)
  const env = { ...process.env, DATABASE_URL: gw.config.DATABASE_URL, ENCRYPTION_KEY: gw.app.encryptionKey.toString('hex'), LOG_LEVEL: 'warn' }
  const created = await run(process.execPath, ['--import=tsx', 'src/cli/admin.ts', 'tenants', 'create', 'from-cli'], { env })
  t.equal(JSON.parse(created.stdout).name, 'from-cli')
  const failed = await run(process.execPath, ['--import=tsx', 'src/cli/admin.ts', 'tenants', 'create', 'from-cli'], { env }).catch((err: { code: number, stderr: string }) => err)
  t.equal((failed as { code: number }).code, 1)
  t.match((failed as { stderr: string }).stderr, /GW_ERR_CONFLICT/)
})

t.test('revoke and rotate take a key by its id, its keyId or the whole key', async (t) => {
  const gw = await buildGateway(t)
  const domain = gw.app.domain
  await runAdmin(['tenants', 'create', 'acme'], domain)
  const issue = async () => {
    const k = await runAdmin(['keys', 'issue', 'acme'], domain) as { id: string, keyId: string, key: string }
    gw.secret(k.key)
    return k
  }
  const [a, b, c] = [await issue(), await issue(), await issue()]
  for (const [k, ref] of [[a, a.id], [b, b.keyId], [c, c.key]] as const) {
    const revoked = await runAdmin(['keys', 'revoke', ref], domain) as { id: string, revokedAt: Date | null }
    t.equal(revoked.id, k.id)
    t.ok(revoked.revokedAt, `revoked by ${ref === k.id ? 'id' : ref === k.keyId ? 'keyId' : 'whole key'}`)
  }
  const d = await issue()
  const rotated = await runAdmin(['keys', 'rotate', d.keyId, '--overlap', '0'], domain) as { previous: { id: string } }
  t.equal(rotated.previous.id, d.id, 'rotate by keyId')
  const forged = `ngw_${d.keyId}_${'A'.repeat(43)}`
  await t.rejects(runAdmin(['keys', 'revoke', forged], domain), { code: 'GW_ERR_NOT_FOUND' }, 'a whole key with the wrong secret is not that key')

  // the admin API takes the id or the keyId in the path
  const e = await issue()
  const viaKeyId = await gw.admin({ method: 'POST', url: `/admin/v1/keys/${e.keyId}/revoke` })
  t.equal(viaKeyId.statusCode, 200)
  t.equal(viaKeyId.json().id, e.id)
})

t.test('every CLI error is one line with its GW_ERR_* code, never a database message', async (t) => {
  const gw = await buildGateway(t)
  const env = { ...process.env, DATABASE_URL: gw.config.DATABASE_URL, ENCRYPTION_KEY: gw.app.encryptionKey.toString('hex'), LOG_LEVEL: 'warn' }
  await runAdmin(['tenants', 'create', 'acme'], gw.app.domain)
  const cases: Array<[string[], RegExp]> = [
    [['keys', 'revoke', '0123456789abcdef'], /^GW_ERR_NOT_FOUND: API key 0123456789abcdef not found/],
    [['keys', 'revoke', 'not-a-key'], /^GW_ERR_NOT_FOUND: /],
    [['tokens', 'remove', 'acme', 'not-a-uuid'], /^GW_ERR_NOT_FOUND: /],
    [['tenants', 'mode', 'nobody', 'registered'], /^GW_ERR_NOT_FOUND: no tenant named nobody/],
    [['keys', 'frob'], /^GW_ERR_VALIDATION: unknown command "keys frob"/],
    [['keys', 'issue', 'acme', '--bogus'], /^GW_ERR_VALIDATION: Unknown option '--bogus'/]
  ]
  for (const [args, expected] of cases) {
    const failed = await run(process.execPath, ['--import=tsx', 'src/cli/admin.ts', ...args], { env }).catch((err: { code: number, stderr: string }) => err) as { code: number, stderr: string }
    t.equal(failed.code, 1, args.join(' '))
    const lines = failed.stderr.trim().split('\n')
    t.equal(lines.length, 1, `one line: ${failed.stderr}`)
    t.match(lines[0], expected)
    t.notMatch(failed.stderr, /prisma|invocation|invalid input syntax|\n\s+at .+:\d+/i, 'no database or library message')
  }
})
