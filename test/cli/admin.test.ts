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
  await t.rejects(runAdmin(['nonsense'], domain), /Usage/)
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
