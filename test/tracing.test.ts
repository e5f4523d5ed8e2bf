// Traces end to end, with the OpenTelemetry SDK loaded as `npm start` loads it: the caller's
// W3C traceparent reaches the upstream on every call of a request (create-session, the upload,
// the long /run_sse stream), the turn is a span of that trace carrying its ids (never a token
// or a key), Postgres queries are child spans, and the gateway's log lines carry the trace id.
import t from 'tap'
import { randomBytes } from 'node:crypto'
import { once } from 'node:events'
import { readFileSync } from 'node:fs'
import { createServer } from 'node:http'
import { request } from 'undici'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'
import { renderMp4 } from '../src/simulator/mp4.ts'

interface OtlpSpan { traceId: string, spanId: string, parentSpanId?: string, name: string, attributes?: Array<{ key: string, value: { stringValue?: string } }> }

t.test('a caller\'s trace reaches the upstream, and the turn, its queries and its logs join it', { timeout: 120_000 }, async (t) => {
  // an OTLP/HTTP (JSON) collector
  const spans: OtlpSpan[] = []
  let exported = ''
  const collector = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      exported += body
      const doc = JSON.parse(body) as { resourceSpans?: Array<{ scopeSpans: Array<{ spans: OtlpSpan[] }> }> }
      for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  }).listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const collectorUrl = `http://127.0.0.1:${(collector.address() as { port: number }).port}`

  const sim = await startSimulator(t, { mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url, {
    OTEL_EXPORTER_OTLP_ENDPOINT: collectorUrl,
    OTEL_TRACES_SAMPLER: 'parentbased_traceidratio',
    OTEL_TRACES_SAMPLER_ARG: '0',
    OTEL_BSP_SCHEDULE_DELAY: '100'
  })
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  const traceId = randomBytes(16).toString('hex')
  const traceparent = `00-${traceId}-${randomBytes(8).toString('hex')}-01`
  const http = jsonClient(() => base)
  const call = async (method: 'GET' | 'POST', path: string, body: unknown, headers: Record<string, string>) => (await http(method, path, body, headers)).json
  const { id: tenantId, key, as: user } = await adminTenant(http, adminToken)
  const as = { ...user, traceparent }
  const session = await call('POST', '/v1/sessions', {}, as)
  const boundary = 'trace-test'
  const upload = await request(`${base}/v1/sessions/${session.id}/uploads`, {
    method: 'POST',
    headers: { ...as, 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="a.mp4"\r\n\r\n`), renderMp4(), Buffer.from(`\r\n--${boundary}--\r\n`)])
  })
  t.equal(upload.statusCode, 201)
  await upload.body.dump()
  const turn = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:generation] a city' }, as)
  await waitFor(async () => await call('GET', `/v1/sessions/${session.id}/turns/${turn.id}`, undefined, as), (r) => r.status !== 'running', 20_000)

  // the upstream saw the caller's trace on every call the requests made
  const seen = await sim.control('GET', 'requests') as Array<{ endpoint: string, traceparent: string | null }>
  for (const endpoint of ['anonymous-token', 'create-session', 'upload', 'run-sse']) {
    const calls = seen.filter((r) => r.endpoint === endpoint)
    t.ok(calls.length > 0 && calls.every((r) => r.traceparent?.split('-')[1] === traceId), `${endpoint} carries the caller's trace id`)
  }

  // spans: the turn with its ids, Prisma queries, all in the caller's trace (sampled by its parent
  // although the ratio for new traces is 0)
  const mine = await waitFor(async () => spans.filter((s) => s.traceId === traceId), (s) => s.some((x) => x.name === 'turn') && s.some((x) => x.name.startsWith('prisma:')), 15_000)
  const turnSpan = mine.find((s) => s.name === 'turn')!
  const attrs = Object.fromEntries((turnSpan.attributes ?? []).map((a) => [a.key, a.value.stringValue]))
  t.match(attrs, { 'nemo.tenant.id': tenantId, 'nemo.session.id': session.id, 'nemo.turn.id': turn.id })
  t.ok(mine.some((s) => s.name.startsWith('prisma:')), 'database queries are spans of the trace')
  t.notOk(spans.some((s) => s.traceId !== traceId && s.name === 'turn'), 'no trace of its own for a turn of a traced request')
  t.notOk(exported.includes(key) || /nmv_[A-Za-z0-9_-]{10,}/.test(exported), 'no key or upstream token in any span')

  // the request's log lines carry the trace
  const lines = gw.out.split('\n').filter((l) => l.includes('"trace_id"'))
  t.ok(lines.some((l) => l.includes(`"trace_id":"${traceId}"`)), 'log lines carry trace_id')
})

t.test('with no trace exporter (no spans are made), a caller\'s traceparent still reaches the upstream and the logs', { timeout: 60_000 }, async (t) => {
  const sim = await startSimulator(t, { mintLimitPerIp: 1000 })
  const { env, adminToken } = await gatewayEnv(t, sim.url)
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  const traceId = randomBytes(16).toString('hex')
  const http = jsonClient(() => base)
  const { as } = await adminTenant(http, adminToken)
  const created = await http('POST', '/v1/sessions', {}, { ...as, traceparent: `00-${traceId}-${randomBytes(8).toString('hex')}-01` })
  t.equal(created.status, 201)

  const seen = await sim.control('GET', 'requests') as Array<{ endpoint: string, traceparent: string | null }>
  const calls = seen.filter((r) => r.endpoint === 'create-session')
  t.ok(calls.length === 1 && calls[0]!.traceparent?.split('-')[1] === traceId, 'create-session carries the caller\'s trace id')
  t.ok(gw.out.split('\n').some((l) => l.includes(`"trace_id":"${traceId}"`)), 'log lines carry trace_id')
})

t.test('one export, from its POST to its webhook, is one linked tree; one span per request, query and upstream call by default', { timeout: 120_000 }, async (t) => {
  interface LinkedSpan extends OtlpSpan { kind?: number, links?: Array<{ traceId: string, spanId: string }> }
  const spans: LinkedSpan[] = []
  const resources: Array<Record<string, string | undefined>> = []
  const collector = createServer((req, res) => {
    let body = ''
    req.on('data', (c: Buffer) => { body += c.toString() })
    req.on('end', () => {
      const doc = JSON.parse(body) as { resourceSpans?: Array<{ resource: { attributes: Array<{ key: string, value: { stringValue?: string } }> }, scopeSpans: Array<{ spans: LinkedSpan[] }> }> }
      for (const rs of doc.resourceSpans ?? []) {
        resources.push(Object.fromEntries(rs.resource.attributes.map((a) => [a.key, a.value.stringValue])))
        for (const ss of rs.scopeSpans) spans.push(...ss.spans)
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}')
    })
  }).listen(0, '127.0.0.1')
  await once(collector, 'listening')
  t.teardown(() => collector.close())
  const receiver = createServer((req, res) => { req.resume(); req.on('end', () => res.writeHead(204).end()) }).listen(0, '127.0.0.1')
  await once(receiver, 'listening')
  t.teardown(() => receiver.close())
  let delivered = 0
  receiver.on('request', () => { delivered++ })

  const sim = await startSimulator(t, { mintLimitPerIp: 1000, stepDelayMs: 1, generationMs: 20, heartbeatIntervalMs: 10, renderDurationMs: 300 })
  const { env, adminToken } = await gatewayEnv(t, sim.url, {
    OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as { port: number }).port}`,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    DEPLOYMENT_ENVIRONMENT: 'staging',
    EXPORT_POLL_INITIAL_MS: '100',
    EXPORT_POLL_MAX_MS: '200',
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    WEBHOOK_POLL_MS: '50'
  })
  const gw = startGateway(env)
  t.teardown(() => { gw.kill('SIGKILL') })
  const base = await gw.url
  const http = jsonClient(() => base)
  const call = async (method: 'GET' | 'POST', path: string, body: unknown, headers: Record<string, string>) => (await http(method, path, body, headers)).json
  const { as } = await adminTenant(http, adminToken)
  await call('POST', '/v1/webhooks/endpoints', { url: `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook` }, as)
  const session = await call('POST', '/v1/sessions', {}, as)
  const turn = await call('POST', `/v1/sessions/${session.id}/turns`, { text: '[scenario:generation] a city' }, as)
  await waitFor(async () => await call('GET', `/v1/sessions/${session.id}/turns/${turn.id}`, undefined, as), (r) => r.status !== 'running', 20_000)
  const exp = await call('POST', `/v1/sessions/${session.id}/exports`, {}, as)
  t.equal((await waitFor(async () => await call('GET', `/v1/exports/${exp.id}`, undefined, as), (r) => r.status !== 'queued' && r.status !== 'rendering', 20_000)).status, 'completed')
  await waitFor(async () => delivered, (n) => n >= 1, 20_000)

  const attr = (s: OtlpSpan, key: string) => s.attributes?.find((a) => a.key === key)?.value.stringValue
  const post = await waitFor(async () => spans.find((s) => s.kind === 2 && attr(s, 'http.request.method') === 'POST' && /\/exports$/.test(attr(s, 'http.route') ?? '')), (s) => s !== undefined, 15_000)
  const linked = await waitFor(async () => spans.filter((s) => (s.links ?? []).some((l) => l.traceId === post!.traceId && l.spanId === post!.spanId)),
    (l) => l.some((s) => s.name === 'export.poll') && l.some((s) => s.name === 'webhook.deliver'), 15_000)
  t.ok(linked.some((s) => s.name === 'export.poll'), 'the export\'s polls link to the POST that started it')
  t.ok(linked.some((s) => s.name === 'webhook.deliver'), 'its webhook delivery links to the same POST')
  t.ok(spans.some((s) => s.name === 'export.start' && s.traceId === post!.traceId && s.parentSpanId === post!.spanId), 'the export\'s start is a child of the POST')

  t.match(resources[0], { 'service.name': 'nemo-gateway', 'service.version': JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version, 'deployment.environment.name': 'staging' })
  t.notOk(spans.some((s) => /^(onRequest|preValidation|preHandler|onSend|onResponse|handler) - /.test(s.name)), 'no Fastify hook or handler spans by default')
  t.notOk(spans.some((s) => /^prisma:client:(operation|serialize|compile|connect)/.test(s.name)), 'no Prisma internal spans by default')
  t.ok(spans.some((s) => s.name === 'prisma:client:db_query' && s.traceId === post!.traceId), 'queries are spans of the request')
})
