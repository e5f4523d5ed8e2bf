// `npm run bench:spans`: how many spans one user journey costs, and whether its background work
// joins the request that started it. The simulator and a gateway from dist/ (as `npm start`
// runs it) with spans exported to an OTLP/HTTP receiver in this process that keeps them. The
// journey: a webhook endpoint, a session, one generation turn, one export run to its end and
// its `export.completed` webhook received. Reported: spans in all, per HTTP request the journey
// made, by name (the top ones), and the export's tree: the POST's trace and the spans (export
// polls, webhook deliveries) that carry a link to it. Not part of `npm test`.
import { once } from 'node:events'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { json, buildDist, startGateway, startSimulator, stop, stopGateway } from './lib.ts'

interface OtlpSpan {
  traceId: string
  spanId: string
  parentSpanId?: string
  name: string
  kind?: number
  links?: Array<{ traceId: string, spanId: string }>
  attributes?: Array<{ key: string, value: { stringValue?: string } }>
}

const attr = (s: OtlpSpan, key: string): string | undefined => s.attributes?.find((a) => a.key === key)?.value.stringValue

const waitFor = async <T>(fn: () => Promise<T>, ok: (v: T) => boolean, ms = 60_000): Promise<T> => {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`timed out waiting: ${JSON.stringify(v)}`)
    await new Promise((resolve) => setTimeout(resolve, 100))
  }
}

buildDist()
const spans: OtlpSpan[] = []
const collector = createServer((req, res) => {
  let body = ''
  req.on('data', (c: Buffer) => { body += c.toString() })
  req.on('end', () => {
    const doc = JSON.parse(body) as { resourceSpans?: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
    for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
    res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
  })
}).listen(0, '127.0.0.1')
await once(collector, 'listening')
const hooks = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()) }).listen(0, '127.0.0.1')
await once(hooks, 'listening')
let delivered = 0
hooks.on('request', () => { delivered++ })

const sim = await startSimulator({ SIM_STEP_DELAY_MS: '1', SIM_GENERATION_MS: '20', SIM_HEARTBEAT_INTERVAL_MS: '10', SIM_RENDER_DURATION_MS: '1500' })
const gw = await startGateway(sim.url, {
  OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}`,
  OTEL_BSP_SCHEDULE_DELAY: '100',
  EXPORT_POLL_INITIAL_MS: '300',
  EXPORT_POLL_MAX_MS: '500',
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  WEBHOOK_POLL_MS: '50'
})
try {
  // what the start made (first-run queries, jobs) is not the journey's
  await new Promise((resolve) => setTimeout(resolve, 1500))
  spans.length = 0
  let requests = 0
  const call = async (method: string, path: string, body?: unknown): Promise<any> => {
    requests++
    return await json(`${gw.url}${path}`, { method, headers: { authorization: `Bearer ${gw.key}`, 'x-user-id': 'spans' }, body })
  }
  await call('POST', '/v1/webhooks/endpoints', { url: `http://127.0.0.1:${(hooks.address() as AddressInfo).port}/hook` })
  const session = await call('POST', '/v1/sessions', {})
  const turn = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:generation] a city at night' })
  await waitFor(async () => await call('GET', `/v1/sessions/${session.id}/turns/${turn.id}`), (r) => r.status !== 'running')
  const exp = await call('POST', `/v1/sessions/${session.id}/exports`, {})
  await waitFor(async () => await call('GET', `/v1/exports/${exp.id}`), (r) => r.status === 'completed' || r.status === 'failed')
  await waitFor(async () => delivered, (n) => n >= 1)
  // the batch span processor sends every 100 ms; what the webhook delivery ended is in a second
  await new Promise((resolve) => setTimeout(resolve, 1500))

  const byName = new Map<string, number>()
  for (const s of spans) byName.set(s.name, (byName.get(s.name) ?? 0) + 1)
  const top = [...byName].sort((a, b) => b[1] - a[1]).slice(0, 12)
  const server = spans.filter((s) => s.kind === 2).length
  // the export's tree: the POST's server span, and every span linked to the POST's trace
  const postSpan = spans.find((s) => s.kind === 2 && attr(s, 'http.request.method') === 'POST' && /^\/v1\/sessions\/[^/]+\/exports$/.test(attr(s, 'http.route') ?? ''))
  const postTrace = postSpan?.traceId
  const linked = spans.filter((s) => (s.links ?? []).some((l) => l.traceId === postTrace))
  // a request's trace holds its server span; the rest are background work (job polls, the
  // delivery worker's look for due messages, the turn runner after its request ended)
  const requestTraces = new Set(spans.filter((s) => s.kind === 2).map((s) => s.traceId))
  const inRequests = spans.filter((s) => requestTraces.has(s.traceId)).length
  const report = {
    spans: spans.length,
    requests,
    serverSpans: server,
    spansPerRequest: inRequests / requestTraces.size,
    background: spans.length - inRequests,
    inPostTrace: spans.filter((s) => s.traceId === postTrace).length,
    linkedToPost: linked.map((s) => s.name),
    top
  }
  console.log(JSON.stringify(report, null, 1))
} finally {
  await stopGateway(gw)
  await stop(sim.child)
  collector.close()
  hooks.close()
}
