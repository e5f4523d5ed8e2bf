// The TypeScript client against a real gateway on a real port and the simulator: upload ->
// turn (its events iterated) -> export -> the webhook verified with verifyWebhook -> download;
// a turn's stream cut mid-way resumes with Last-Event-ID; a POST retried after a 503 keeps its
// Idempotency-Key; a refusal is a GatewayProblem; a GraphQL subscription through graphql-ws.
import t from 'tap'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import WebSocket from 'ws'
import { buildGateway, type TestGateway } from '../helpers/app.ts'
import { FAST_EXPORTS, FAST_SIM } from '../helpers/exports.ts'
import { startReceiver } from '../helpers/receiver.ts'
import { cuttingProxy } from '../helpers/tcp-proxy.ts'
import { GatewayClient, GatewayProblem, verifyWebhook, type SessionEvent } from '../../clients/typescript/src/index.ts'
import { subscriptionClient, subscribe } from '../../clients/typescript/src/graphql.ts'

async function listening (gw: TestGateway): Promise<string> {
  return await gw.app.listen({ port: 0, host: '127.0.0.1' })
}

async function collect (it: AsyncIterable<SessionEvent>): Promise<SessionEvent[]> {
  const out: SessionEvent[] = []
  for await (const e of it) out.push(e)
  return out
}

t.test('upload -> turn -> export -> webhook -> download', async (t) => {
  const gw = await buildGateway(t, { sim: FAST_SIM, config: FAST_EXPORTS })
  const acme = await gw.tenant('acme')
  const baseUrl = await listening(gw)
  const receiver = await startReceiver(t)
  const client = new GatewayClient({ baseUrl, token: acme.key, userId: 'alice' })

  const endpoint = await client.createWebhookEndpoint({ body: { url: receiver.url, description: 'client journey' } })
  gw.secret(endpoint.secret!)
  const session = await client.createSession({ body: { title: 'Urban Dreams' } })
  t.match(session, { id: String, title: 'Urban Dreams' })

  const form = new FormData()
  // the head of an MP4 (an ftyp box): the gateway checks what a file is, not only its name
  const mp4 = Buffer.alloc(4096, 7)
  Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1')]).copy(mp4)
  form.append('files', new Blob([mp4], { type: 'video/mp4' }), 'clip.mp4')
  const upload = await client.uploadFiles({ sessionId: session.id, body: form })
  t.equal(upload.items.length, 1)
  t.match(upload.items[0], { name: 'clip.mp4', kind: 'video', size: 4096 })

  const events = await collect(client.turn({ sessionId: session.id, body: { text: '[scenario:generation] make a video of a city' } }))
  t.equal(events[0]!.type, 'turn.started')
  t.equal(events.at(-1)!.type, 'turn.completed', 'the iterator ends with the turn')
  t.ok(events.some(e => e.type === 'text'))
  const text = events.find(e => e.type === 'text')
  if (text?.type === 'text') t.type(text.payload.text, 'string', 'payloads are typed by the event type')

  const started = await client.startExport({ sessionId: session.id, body: { quality: 'high' } })
  t.match(started, { id: String, status: /queued|rendering/ })

  const deliveries = await receiver.waitFor(1, 30_000)
  const d = deliveries.find(x => x.json.type === 'export.completed')!
  t.ok(d, 'export.completed delivered')
  const verified = verifyWebhook<{ type: string, data: { id?: string, exportId?: string } }>(d.body, d.headers as Record<string, string>, endpoint.secret!)
  t.equal(verified.type, 'export.completed')
  t.throws(() => verifyWebhook(d.body, d.headers as Record<string, string>, 'whsec_' + Buffer.alloc(24).toString('base64')), 'a wrong secret is refused')

  const done = await client.getExport({ exportId: started.id })
  t.equal(done.status, 'completed')
  const file = await client.downloadExport({ exportId: started.id })
  t.equal(file.status, 200)
  t.equal(file.headers.get('content-type'), 'video/mp4')
  const bytes = Buffer.from(await file.arrayBuffer())
  t.ok(bytes.length > 0, 'the MP4 arrives')
  const part = await client.downloadExport({ exportId: started.id, range: 'bytes=0-9' })
  t.equal(part.status, 206)
  t.same(Buffer.from(await part.arrayBuffer()), bytes.subarray(0, 10))

  const problem = await client.getExport({ exportId: '00000000-0000-4000-8000-000000000000' }).catch((e: unknown) => e)
  t.ok(problem instanceof GatewayProblem)
  t.match(problem, { status: 404, code: /^GW_ERR_/, detail: String })
})

t.test('a turn stream cut mid-way resumes after the last event with Last-Event-ID', async (t) => {
  const gw = await buildGateway(t, { sim: { ...FAST_SIM, stepDelayMs: 40 } })
  const acme = await gw.tenant('acme')
  const proxy = await cuttingProxy(t, await listening(gw))
  const client = new GatewayClient({ baseUrl: proxy.url, token: acme.key, userId: 'alice' })
  const session = await client.createSession()
  const seen: SessionEvent[] = []
  let cut = false
  for await (const e of client.turn({ sessionId: session.id, body: { text: '[scenario:generation] make a video of a city' } })) {
    seen.push(e)
    if (!cut && seen.length === 2) {
      cut = true
      await proxy.cut()
      await proxy.restore()
    }
  }
  t.ok(cut)
  t.equal(seen.at(-1)!.type, 'turn.completed')
  const log = (await client.listSessionEvents({ sessionId: session.id, limit: 200 })).items.filter(e => e.turnId === seen[0]!.turnId)
  t.same(seen.map(e => e.cursor), log.map(e => e.cursor), 'every event of the turn once, in order, none lost')
})

t.test('a POST retried after a 503 keeps its Idempotency-Key', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const target = await listening(gw)
  const keys: string[] = []
  // a front that refuses the first request of each key, as a restarting instance would
  const front = createServer((req, res) => {
    const key = String(req.headers['idempotency-key'] ?? '')
    keys.push(key)
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c)).on('end', () => {
      if (keys.filter(k => k === key).length === 1) {
        res.writeHead(503, { 'content-type': 'application/problem+json', 'retry-after': '0' }).end('{"code":"GW_ERR_UNAVAILABLE","status":503,"detail":"restarting"}')
        return
      }
      const headers = Object.fromEntries(Object.entries(req.headers).filter(([k]) => !['host', 'connection', 'content-length'].includes(k)).map(([k, v]) => [k, String(v)]))
      fetch(target + req.url, { method: req.method, headers, body: chunks.length > 0 ? Buffer.concat(chunks) : undefined })
        .then(async (r) => { res.writeHead(r.status, { 'content-type': r.headers.get('content-type') ?? 'text/plain' }).end(Buffer.from(await r.arrayBuffer())) })
        .catch(() => res.writeHead(502).end())
    })
  })
  await new Promise<void>(resolve => front.listen(0, '127.0.0.1', resolve))
  t.teardown(() => { front.closeAllConnections(); front.close() })
  const client = new GatewayClient({ baseUrl: `http://127.0.0.1:${(front.address() as AddressInfo).port}`, token: acme.key, userId: 'alice', retryDelayMs: 10 })
  const session = await client.createSession({ body: { title: 'once' } })
  t.equal(keys.length, 2, 'refused once, then sent again')
  t.equal(keys[0], keys[1], 'with the same Idempotency-Key')
  t.match(keys[0], /^[0-9a-f-]{36}$/)
  const all = await client.listSessions()
  t.same(all.items.map(s => s.id), [session.id], 'one session made')
})

t.test('a GraphQL subscription through the graphql-ws helper', async (t) => {
  const gw = await buildGateway(t, { sim: FAST_SIM })
  const acme = await gw.tenant('acme')
  const baseUrl = await listening(gw)
  const client = new GatewayClient({ baseUrl, token: acme.key, userId: 'alice' })
  const session = await client.createSession()
  const ws = subscriptionClient({ baseUrl, token: acme.key, userId: 'alice', webSocketImpl: WebSocket, options: { retryAttempts: 0 } })
  t.teardown(async () => { await ws.dispose() })
  const got: string[] = []
  const done = (async () => {
    for await (const r of subscribe<{ sessionEvents: { type: string } }>(ws, 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor type } }', { id: session.id })) {
      got.push(r.sessionEvents.type)
      if (r.sessionEvents.type === 'turn.completed') break
    }
  })()
  await new Promise(resolve => setTimeout(resolve, 200))
  await client.startTurn({ sessionId: session.id, body: { text: '[scenario:generation] make a video of a city' } })
  await done
  t.equal(got[0], 'turn.started')
  t.equal(got.at(-1), 'turn.completed')
})
