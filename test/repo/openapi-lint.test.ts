// The published OpenAPI document passes Redocly's recommended rules (redocly.yaml) with no
// error and no warning: what a generator or a validating proxy trips on (no operationId, a
// missing summary, an unresolved $ref, an invalid example, no servers) fails here first.
import t from 'tap'
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

const root = fileURLToPath(new URL('../..', import.meta.url))

t.test('redocly lint (recommended): 0 errors, 0 warnings', async (t) => {
  const cli = fileURLToPath(new URL('../../node_modules/@redocly/cli/bin/cli.js', import.meta.url))
  const run = await promisify(execFile)(process.execPath, [cli, 'lint', 'openapi/openapi.json', '--config', 'redocly.yaml', '--format', 'json'], {
    cwd: root, maxBuffer: 16 * 1024 * 1024, env: { ...process.env, REDOCLY_TELEMETRY: 'off', REDOCLY_SUPPRESS_UPDATE_NOTICE: 'true' }
  }).catch((err: { stdout?: string, code?: number }) => ({ stdout: err.stdout ?? '', code: err.code }))
  const report = JSON.parse(run.stdout.slice(run.stdout.indexOf('{'))) as { totals: { errors: number, warnings: number }, problems: Array<{ ruleId: string, message: string, location: Array<{ pointer: string }> }> }
  const list = report.problems.map((p) => `${p.ruleId}: ${p.message} (${p.location[0]?.pointer ?? ''})`)
  t.equal(report.totals.errors, 0, `no errors${list.length > 0 ? `\n${list.join('\n')}` : ''}`)
  t.equal(report.totals.warnings, 0, 'no warnings')
})
