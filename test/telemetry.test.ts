// The process's OpenTelemetry setup (src/telemetry.ts), loaded as `npm start` loads it. With no
// span exporter the process sets up only what it needs (a meter provider, the context manager
// and the W3C propagator), without the NodeSDK; with a setting only the NodeSDK implements, the
// NodeSDK does it. /metrics is the same either way: the runtime metrics, the HTTP metrics and
// the resource (service, version, environment, host, process) on target_info.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { startSimulator } from './helpers/simulator.ts'
import { gatewayEnv, startGateway } from './helpers/process.ts'

interface Scrape { text: string, families: string[], resource: Record<string, string> }

async function scrape (t: Test, extra: Record<string, string> = {}): Promise<Scrape> {
  const sim = await startSimulator(t, { mintLimitPerIp: 1000 })
  const { env } = await gatewayEnv(t, sim.url, { DEPLOYMENT_ENVIRONMENT: 'staging', ...extra })
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  await (await request(`${base}/health/live`)).body.text()
  const text = await (await request(`${base}/metrics`)).body.text()
  const families = [...text.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!).sort()
  const info = /^target_info\{(.*)\} 1$/m.exec(text)?.[1] ?? ''
  const resource = Object.fromEntries([...info.matchAll(/(\w+)="([^"]*)"/g)].map((m) => [m[1]!, m[2]!]))
  return { text, families, resource }
}

t.test('with no span exporter, /metrics shows the runtime, the requests and the resource', { timeout: 60_000 }, async (t) => {
  const { text, resource } = await scrape(t)
  for (const name of ['process_memory_usage', 'v8js_memory_heap_used', 'nodejs_eventloop_utilization', 'v8js_gc_duration', 'http_server_request_duration']) {
    t.match(text, new RegExp(`^${name}`, 'm'), `${name} is scraped`)
  }
  t.match(resource, { service_name: 'nemo-gateway', service_version: /^\d+\.\d+\.\d+/, deployment_environment_name: 'staging' })
  t.ok(resource.host_name !== undefined && resource.process_pid !== undefined, 'the host and the process are detected')
})

t.test('a setting only the NodeSDK implements hands the setup to it, and /metrics is the same', { timeout: 90_000 }, async (t) => {
  const [lean, sdk] = [await scrape(t), await scrape(t, { OTEL_PROPAGATORS: 'tracecontext,baggage' })]
  t.ok(lean.families.length > 10, `${lean.families.length} metric families`)
  t.same(sdk.families, lean.families, 'the same metric families')
  t.same(Object.keys(sdk.resource).sort(), Object.keys(lean.resource).sort(), 'the same resource attributes')
})
