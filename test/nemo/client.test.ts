// NemoClient against tiny node:http servers: the transport behaviour the simulator cannot
// easily show (what is on the wire, streaming uploads, released sockets, timeouts, redirects
// to another origin). The contract-level behaviour is in client-simulator.test.ts.
import { once } from 'node:events'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Readable } from 'node:stream'
import t, { type Test } from 'tap'
import { NemoClient, type NemoClientOptions } from '../../src/nemo/client.ts'
import { NemoError } from '../../src/nemo/errors.ts'
import type { NemoEvent } from '../../src/nemo/events.ts'

type Handler = (req: IncomingMessage, res: ServerResponse, body: Buffer) => unknown

interface Seen { method: string, url: string, headers: IncomingMessage['headers'], body: Buffer }

async function serve (t: Test, handler: Handler, opts: { raw?: boolean } = {}): Promise<{ url: string, seen: Seen[], server: Server }> {
  const seen: Seen[] = []
  const server = createServer((req, res) => {
    if (opts.raw === true) {
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body: Buffer.alloc(0) })
      handler(req, res, Buffer.alloc(0))
      return
    }
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks)
      seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers, body })
      handler(req, res, body)
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.closeAllConnections(); server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, seen, server }
}

function client (t: Test, baseUrl: string, over: Partial<NemoClientOptions> = {}): NemoClient {
  const c = new NemoClient({
    baseUrl,
    skill: { source: 'hd-local-ai', version: '1.9', platform: 'test' },
    connectTimeoutMs: 1000,
    headersTimeoutMs: 2000,
    bodyTimeoutMs: 2000,
    connections: 4,
    ...over
  })
  t.teardown(() => c.destroy())
  return c
}

const json = (res: ServerResponse, body: unknown, status = 200, headers: Record<string, string> = {}) => {
  res.writeHead(status, { 'content-type': 'application/json', ...headers })
  res.end(JSON.stringify(body))
}

async function rejection (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

t.test('attribution headers on every call, bearer on all but anonymous-token', async (t) => {
  const expiresAt = new Date(Math.floor(Date.now() / 1000) * 1000 + 3 * 24 * 3600_000)
  const { url, seen } = await serve(t, (req, res) => {
    if (req.url === '/api/auth/anonymous-token') return json(res, { code: 0, data: { token: 'nmv_usr_a', user_id: 'anon_1', expires_at: expiresAt.toISOString(), credits: 100 } })
    if (req.url === '/api/credits/balance/simple') return json(res, { code: 0, data: { available: 60, frozen: 40 } })
    json(res, { code: 0, data: { task_id: 'task_1', session_id: '5529798706024415232', user_id: 'anon_1' } })
  })
  const c = client(t, url)
  const minted = await c.mintAnonymousToken('client-1')
  t.same(minted, { token: 'nmv_usr_a', userId: 'anon_1', expiresAt, credits: 100 })
  t.same(await c.getCredits('nmv_usr_a'), { available: 60, frozen: 40, total: 100 })
  t.same(await c.createSession({ token: 'nmv_usr_a', userId: 'anon_1' }, { language: 'en' }), { taskId: 'task_1', sessionId: '5529798706024415232', userId: 'anon_1' })
  for (const s of seen) {
    t.match(s.headers, { 'x-skill-source': 'hd-local-ai', 'x-skill-version': '1.9', 'x-skill-platform': 'test' }, `${s.url}: X-Skill-*`)
  }
  t.equal(seen[0]?.headers.authorization, undefined, 'no bearer on anonymous-token')
  t.equal(seen[0]?.headers['x-client-id'], 'client-1')
  t.equal(seen[1]?.headers.authorization, 'Bearer nmv_usr_a')
  t.equal(seen[2]?.headers.authorization, 'Bearer nmv_usr_a')
  t.same(JSON.parse(seen[2]?.body.toString() ?? ''), { task_name: 'project', language: 'en' })
})

t.test('a base URL path prefix is kept', async (t) => {
  const { url, seen } = await serve(t, (_req, res) => json(res, { code: 0, data: { available: 1, frozen: 0, total: 1 } }))
  await client(t, `${url}/nemo/`).getCredits('x')
  t.equal(seen[0]?.url, '/nemo/api/credits/balance/simple')
})

t.test('uploads stream a multipart body without buffering the file', async (t) => {
  let firstBytes: () => void = () => {}
  const firstBytesArrived = new Promise<void>((resolve) => { firstBytes = resolve })
  const chunks: Buffer[] = []
  const { url, seen } = await serve(t, (req, res) => {
    req.on('data', (c: Buffer) => { chunks.push(c); if (Buffer.concat(chunks).includes('HEAD-OF-FILE')) firstBytes() })
    req.on('end', () => json(res, {
      code: 0,
      data: { files: [{ filename: 'a "b".mp4', file_type: 'video', cdn_url: 'https://cdn/x.mp4', duration: 30.5, width: 1920, height: 1080, fps: 30, hash: 'abc' }], session_state_applied: true }
    }))
  }, { raw: true })
  // The rest of the file is only produced once the server holds the first bytes: a
  // client that buffered the whole file first would deadlock here.
  async function * file (): AsyncGenerator<Buffer> {
    yield Buffer.from('HEAD-OF-FILE')
    await firstBytesArrived
    yield Buffer.from('-TAIL')
  }
  const files = await client(t, url).uploadFiles('tok', 'sid 1', [
    { filename: 'a "b".mp4', contentType: 'video/mp4', stream: Readable.from(file()) },
    { filename: '图.png', contentType: 'image/png', stream: Readable.from([Buffer.from([1, 2, 3])]) }
  ])
  t.same(files, [{ filename: 'a "b".mp4', fileType: 'video', cdnUrl: 'https://cdn/x.mp4', duration: 30.5, width: 1920, height: 1080, fps: 30, hash: 'abc' }])
  t.equal(seen[0]?.url, '/api/upload-video/nemo_agent/me/sid%201')
  const type = String(seen[0]?.headers['content-type'])
  const boundary = /boundary=(.+)$/.exec(type)?.[1] ?? ''
  t.match(type, /^multipart\/form-data; boundary=/)
  t.equal(Buffer.concat(chunks).toString('latin1'), Buffer.from(
    `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="a %22b%22.mp4"\r\nContent-Type: video/mp4\r\n\r\nHEAD-OF-FILE-TAIL\r\n` +
    `--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="图.png"\r\nContent-Type: image/png\r\n\r\n\x01\x02\x03\r\n` +
    `--${boundary}--\r\n`).toString('latin1'))
})

t.test('runSse: request body, events, and a clean close', async (t) => {
  const { url, seen } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.end(': heartbeat\n\ndata: {"content":{"parts":[{"text":"Hi"}],"role":"model"},"author":"nemo"}\n\n')
  })
  const events: NemoEvent[] = []
  for await (const ev of client(t, url).runSse('tok', { sessionId: 's1', text: 'hello' })) events.push(ev)
  t.same(events, [{ type: 'heartbeat' }, { type: 'text', text: 'Hi', author: 'nemo' }])
  t.equal(seen[0]?.headers.accept, 'text/event-stream')
  t.same(JSON.parse(seen[0]?.body.toString() ?? ''), { app_name: 'nemo_agent', user_id: 'me', session_id: 's1', new_message: { parts: [{ text: 'hello' }] } })
})

/** A server that streams heartbeats until the client goes away, and reports that. */
async function endlessSse (t: Test) {
  let closed: () => void = () => {}
  const gone = new Promise<void>((resolve) => { closed = resolve })
  const { url } = await serve(t, (_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: {"type":"text","content":"working"}\n\n')
    const timer = setInterval(() => res.write(': heartbeat\n\n'), 10)
    res.on('close', () => { clearInterval(timer); closed() })
  })
  return { url, gone }
}

t.test('runSse: an early break releases the upstream connection', async (t) => {
  const { url, gone } = await endlessSse(t)
  const events = client(t, url).runSse('tok', { sessionId: 's', text: 'x' })
  t.same((await events.next()).value, { type: 'text', text: 'working' })
  await events.return() // what `break` in a for-await does
  await gone
  t.pass('the server saw the stream close')
})

t.test('runSse: an abort throws the abort reason and releases the connection', async (t) => {
  const { url, gone } = await endlessSse(t)
  const ac = new AbortController()
  const err = await rejection((async () => {
    for await (const ev of client(t, url).runSse('tok', { sessionId: 's', text: 'x', signal: ac.signal })) {
      if (ev.type === 'heartbeat') ac.abort()
    }
  })())
  t.equal((err as Error).name, 'AbortError')
  await gone
})

t.test('runSse: errors before the stream and a socket destroyed mid-event', async (t) => {
  const { url } = await serve(t, (req, res) => {
    if (req.url === '/run_sse' && req.headers.authorization === 'Bearer gone') return json(res, { detail: 'Session not found: s' }, 404)
    res.writeHead(200, { 'content-type': 'text/event-stream' })
    res.write('data: {"type":"text","content":"half"}\n\ndata: {"type":"te')
    setTimeout(() => res.destroy(), 20)
  })
  const c = client(t, url)
  const missing = await rejection(c.runSse('gone', { sessionId: 's', text: 'x' }).next())
  t.ok(missing instanceof NemoError && missing.kind === 'session_not_found')
  const events: NemoEvent[] = []
  const broken = await rejection((async () => { for await (const ev of c.runSse('tok', { sessionId: 's', text: 'x' })) events.push(ev) })())
  t.same(events, [{ type: 'text', text: 'half' }])
  t.ok(broken instanceof NemoError && broken.kind === 'stream_broken', 'stream_broken, not a normal end')
})

t.test('runSse: a silent stream hits the SSE body timeout', async (t) => {
  const { url } = await serve(t, (_req, res) => { res.writeHead(200, { 'content-type': 'text/event-stream' }); res.write(': hi\n\n') })
  const err = await rejection((async () => {
    for await (const ev of client(t, url).runSse('tok', { sessionId: 's', text: 'x', bodyTimeoutMs: 150 })) t.equal(ev.type, 'heartbeat')
  })())
  t.ok(err instanceof NemoError && err.kind === 'stream_silent', 'silence is its own kind: the turn recovers from it')
  t.equal((err as NemoError).code, 'GW_ERR_UPSTREAM_TIMEOUT')
})

t.test('timeouts and refused connections', async (t) => {
  const { url } = await serve(t, () => { /* never answers */ })
  const slow = await rejection(client(t, url, { headersTimeoutMs: 150 }).getCredits('tok'))
  t.ok(slow instanceof NemoError && slow.kind === 'timeout', 'headers timeout')
  const probe = await serve(t, () => {})
  const deadUrl = probe.url
  await new Promise<void>((resolve) => probe.server.close(() => resolve()))
  const refused = await rejection(client(t, deadUrl).getCredits('tok'))
  t.ok(refused instanceof NemoError && refused.kind === 'unavailable', 'connection refused')
  t.equal((refused as NemoError).code, 'GW_ERR_UPSTREAM_UNAVAILABLE')
})

t.test('render: submit body, both poll shapes, cancel', async (t) => {
  const { url, seen } = await serve(t, (req, res) => {
    if (req.url === '/api/render/proxy/lambda') return json(res, { success: true, data: { id: 'render_1', status: 'pending', progress: 5 } })
    if (req.url === '/api/render/proxy/lambda/A') return json(res, { success: true, data: { id: 'A', status: 'completed', progress: 100, outputUrl: 'https://static1/A.mp4', createdAt: 1 } })
    if (req.url === '/api/render/proxy/lambda/B') return json(res, { taskId: 'B', status: 'completed', progress: 100, output: { url: 'https://cdn/B.mp4', duration: 30.5, size: 1 } })
    if (req.url === '/api/render/proxy/lambda/both') return json(res, { success: true, data: { id: 'both', status: 'failed', error: 'invalid draft' }, status: 'failed', output: { url: 'x' } })
    if (req.url === '/api/render/proxy/lambda/A/cancel') return json(res, { success: true, data: { status: 'canceled' } })
    json(res, { success: false, error: 'no' }, 404)
  })
  const c = client(t, url)
  const draft = { t: [{ tt: 0, sg: [{ src: 'x' }] }] }
  t.same(await c.submitRender('tok', { id: 'render_1', sessionId: 's1', draft }), { id: 'render_1', status: 'pending', progress: 5 })
  t.same(JSON.parse(seen[0]?.body.toString() ?? ''), { id: 'render_1', sessionId: 's1', draft, output: { format: 'mp4', quality: 'high' } })
  t.match(await c.getRender('tok', 'A'), { id: 'A', status: 'completed', progress: 100, outputUrl: 'https://static1/A.mp4' })
  t.match(await c.getRender('tok', 'B'), { id: 'B', status: 'completed', progress: 100, outputUrl: 'https://cdn/B.mp4' })
  t.match(await c.getRender('tok', 'both'), { id: 'both', status: 'failed', progress: 0, error: 'invalid draft', outputUrl: 'x' })
  t.same(await c.cancelRender('tok', 'A'), { id: 'A', status: 'canceled' })
  const missing = await rejection(c.getRender('tok', 'nope'))
  t.ok(missing instanceof NemoError && missing.kind === 'bad_request')
})

t.test('download follows redirects; the token never leaves the API origin', async (t) => {
  const cdn = await serve(t, (req, res) => {
    if (req.url === '/hop') { res.writeHead(302, { location: '/file.mp4' }); return res.end() }
    res.writeHead(200, { 'content-type': 'video/mp4', 'content-length': '4' })
    res.end(Buffer.from('mp4!'))
  })
  const api = await serve(t, (req, res) => {
    if (req.url === '/api/render/proxy/r1/download') { res.writeHead(302, { location: `${cdn.url}/hop` }); return res.end() }
    if (req.url === '/api/render/proxy/r2/download') return json(res, { output: { url: `${cdn.url}/file.mp4`, size: 4 } })
    json(res, { success: false, error: 'render not found' }, 404)
  })
  const c = client(t, api.url)
  for (const id of ['r1', 'r2']) {
    const dl = await c.downloadRender('tok', id)
    t.equal(dl.contentType, 'video/mp4')
    t.equal(dl.contentLength, 4)
    const chunks: Buffer[] = []
    for await (const chunk of dl.stream) chunks.push(chunk as Buffer)
    t.equal(Buffer.concat(chunks).toString(), 'mp4!', `${id}: the file`)
  }
  t.equal(api.seen[0]?.headers.authorization, 'Bearer tok')
  for (const s of cdn.seen) {
    t.equal(s.headers.authorization, undefined, `${s.url}: no bearer to the CDN`)
    t.equal(s.headers['x-skill-source'], undefined)
  }
  const missing = await rejection(c.downloadRender('tok', 'r3'))
  t.ok(missing instanceof NemoError && missing.kind === 'bad_request')
})

t.test('state tolerates missing fields; 2001 hint uses the user id given with the token', async (t) => {
  const { url } = await serve(t, (req, res) => {
    if (req.url?.startsWith('/api/state/')) return json(res, { code: 0, data: { state: { draft: { t: [] } } } })
    json(res, { code: 2001, message: 'Insufficient credits', data: null })
  })
  const c = client(t, url)
  t.same(await c.getState('tok', 's9'), {
    sessionId: 's9',
    state: { videoInfos: [], draft: { t: [] }, canvasConfig: null, videoAnalyses: null, generatedMedia: [] }
  })
  const err = await rejection(c.createSession({ token: 'tok', userId: 'anon_42' }))
  t.ok(err instanceof NemoError && err.kind === 'credits_exhausted')
  t.equal((err as NemoError).extensions.hint, 'https://nemovideo.com/register?bind=anon_42')
})
