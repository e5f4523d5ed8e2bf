// Dashboards and alerts as code: docker-compose.yml is valid (with its observability
// profile), the alert rules parse, and every metric the alerts and the Grafana dashboard read
// exists in a real /metrics scrape of the gateway after real traffic, so renaming a metric
// cannot silently blind an alert.
import t from 'tap'
import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { parse } from 'yaml'
import { buildGateway } from '../helpers/app.ts'
import { renderMp4 } from '../../src/simulator/mp4.ts'

const root = new URL('../../', import.meta.url)

/** Metric names in a PromQL expression (functions, keywords and label names left out). */
function metricNames (expr: string): string[] {
  const withoutLabels = expr.replace(/\{[^}]*\}/g, '').replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
  const words = withoutLabels.match(/[a-zA-Z_:][a-zA-Z0-9_:]*/g) ?? []
  const notMetrics = new Set(['sum', 'rate', 'max', 'min', 'avg', 'count', 'clamp_min', 'histogram_quantile', 'or', 'and', 'unless', 'irate', 'increase', 'le', 'e'])
  return [...new Set(words.filter((w) => !notMetrics.has(w) && !/^\d/.test(w) && w.includes('_')))]
}

t.test('docker-compose.yml is valid, observability profile included', async (t) => {
  const probe = spawnSync('docker-compose', ['version'], { encoding: 'utf8' })
  if (probe.error !== undefined || probe.status !== 0) {
    t.comment('skipped: docker-compose is not installed (Debian: apt-get install docker-compose)')
    return
  }
  const env = { ...process.env, ENCRYPTION_KEY: '0'.repeat(64), ADMIN_TOKEN: 'x'.repeat(20) }
  const cwd = new URL('.', root).pathname
  const check = spawnSync('docker-compose', ['--profile', 'observability', 'config', '-q'], { cwd, env, encoding: 'utf8' })
  t.equal(check.status, 0, check.stderr)
  const services = spawnSync('docker-compose', ['--profile', 'observability', 'config', '--services'], { cwd, env, encoding: 'utf8' }).stdout.split('\n')
  for (const s of ['gateway', 'simulator', 'postgres', 'redis', 'prometheus', 'grafana', 'jaeger']) t.ok(services.includes(s), s)
})

t.test('every metric the alerts and the dashboard read is in a real scrape', { timeout: 120_000 }, async (t) => {
  const alerts = parse(await readFile(new URL('ops/prometheus/alerts.yml', root), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string, expr: string }> }> }
  const dashboard = JSON.parse(await readFile(new URL('ops/grafana/nemo-gateway.json', root), 'utf8')) as { panels: Array<{ title: string, targets: Array<{ expr: string }> }> }
  const rules = alerts.groups.flatMap((g) => g.rules)
  t.ok(rules.length >= 6, 'the alert rules parse')
  for (const name of ['GatewayHighErrorRate', 'UpstreamErrors', 'AnonymousMintBudgetNearlySpent', 'EventLoopLag', 'WebhookBacklog']) {
    t.ok(rules.some((r) => r.alert === name), name)
  }

  // real traffic: a session, an upload, a turn over SSE, an export, a failed upstream call
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const boundary = 'ops-test'
  const mp4 = renderMp4({ width: 64, height: 64, durationMs: 1000 })
  const upload = await acme.as('alice', {
    method: 'POST',
    url: `/v1/sessions/${session.id}/uploads`,
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` },
    payload: Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.mp4"\r\nContent-Type: video/mp4\r\n\r\n`), mp4, Buffer.from(`\r\n--${boundary}--\r\n`)])
  })
  t.equal(upload.statusCode, 201, upload.body)
  const turn = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, headers: { accept: 'text/event-stream' }, payload: { text: '[scenario:generation] make a video' } })
  t.match(turn.body, /turn\.completed/)
  await gw.sim.fault({ endpoint: 'create-session', status: 503, count: 5 })
  const failed = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.ok(failed.statusCode >= 500, `a failed upstream call (${failed.statusCode})`)

  const scrape = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  const present = new Set(scrape.split('\n').filter((l) => l !== '' && !l.startsWith('#')).map((l) => /^[a-zA-Z_:][a-zA-Z0-9_:]*/.exec(l)![0]))
  const wanted = [
    ...rules.flatMap((r) => metricNames(r.expr).map((m) => [`alert ${r.alert}`, m] as const)),
    ...dashboard.panels.flatMap((p) => p.targets.flatMap((x) => metricNames(x.expr).map((m) => [`panel "${p.title}"`, m] as const)))
  ]
  for (const [where, metric] of wanted) t.ok(present.has(metric), `${where}: ${metric}`)

  // and the values say what happened, with the right labels
  const value = (name: string, labels: Record<string, string>): number => {
    const lines = scrape.split('\n').filter((l) => l.startsWith(name + '{') && Object.entries(labels).every(([k, v]) => l.includes(`${k}="${v}"`)))
    return lines.reduce((sum, l) => sum + Number(l.slice(l.lastIndexOf(' ') + 1)), 0)
  }
  const checks: Array<[string, Record<string, string>, (v: number) => boolean]> = [
    ['http_server_request_duration_count', { http_route: '/v1/sessions/:sessionId/uploads', http_request_method: 'POST', http_response_status_code: '201' }, (v) => v === 1],
    ['http_server_request_duration_count', { http_route: '/v1/sessions', http_response_status_code: '502' }, (v) => v === 1],
    ['gateway_upstream_request_duration_count', { endpoint: 'upload', outcome: '0' }, (v) => v === 1],
    ['gateway_upstream_request_duration_count', { endpoint: 'run_sse', outcome: '0' }, (v) => v === 1],
    ['gateway_upstream_request_duration_count', { endpoint: 'create_session', outcome: '5xx' }, (v) => v >= 1],
    ['gateway_upstream_request_duration_count', { endpoint: 'mint', outcome: '0' }, (v) => v === 1],
    ['gateway_upstream_sse_first_event_count', {}, (v) => v === 1],
    ['gateway_upstream_open_streams', {}, (v) => v === 0],
    ['gateway_sse_open_streams', { kind: 'turn' }, (v) => v === 0],
    ['gateway_upstream_tokens', { tenant_mode: 'anonymous', kind: 'anonymous', state: 'active' }, (v) => v === 1],
    ['gateway_turns_running', {}, (v) => v === 0],
    ['gateway_sessions', {}, (v) => v === 1],
    ['gateway_event_log_append_duration_count', {}, (v) => v > 3],
    // the scrape itself is the one request in flight; the SSE turn left the count when it streamed
    ['http_server_active_requests', { http_request_method: 'GET' }, (v) => v === 1],
    ['http_server_active_requests', { http_request_method: 'POST' }, (v) => v === 0]
  ]
  for (const [name, labels, ok] of checks) {
    const v = value(name, labels)
    t.ok(ok(v), `${name}${JSON.stringify(labels)} = ${v}`)
  }
  t.notMatch(scrape, /http_route="\/v1\/sessions\/[0-9a-f]{8}-/, 'routes are templates, never raw URLs with ids')
})
