// Starts a simulator on a real port for one test file and gives terse clients for it. Defaults
// shrink every delay so the whole suite stays within a few seconds.
import http from 'node:http'
import { Readable } from 'node:stream'
import { request } from 'undici'
import { buildSimulator, type SimulatorOptions } from '../../src/simulator/app.ts'

interface Tap { teardown: (fn: () => unknown) => void }

const FAST: Partial<SimulatorOptions> = {
  stepDelayMs: 1,
  heartbeatIntervalMs: 5,
  generationMs: 30,
  renderDurationMs: 200
}

interface Res<T = any> { status: number, headers: Record<string, string | string[] | undefined>, body: T, raw: string }

interface Call {
  token?: string
  body?: unknown
  headers?: Record<string, string>
}

export interface Sim {
  base: string
  call: <T = any>(method: string, path: string, opts?: Call) => Promise<Res<T>>
  anon: (clientId?: string) => Promise<{ token: string, user_id: string }>
  registered: (credits?: number) => Promise<{ token: string, user_id: string }>
  session: (token: string) => Promise<string>
  sse: (token: string, sessionId: string, text: string, extra?: Record<string, unknown>) => Promise<SseResult>
  counters: () => Promise<any>
}

export interface SseResult { status: number, contentType: string, text: string, complete: boolean }

let clientSeq = 0

export async function startSim (t: Tap, opts: Partial<SimulatorOptions> = {}): Promise<Sim> {
  const app = await buildSimulator({ ...FAST, ...opts })
  await app.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(() => app.close())
  const address = app.server.address()
  if (address === null || typeof address === 'string') throw new Error('no port')
  const base = `http://127.0.0.1:${address.port}`

  const call = async <T = any>(method: string, path: string, o: Call = {}): Promise<Res<T>> => {
    const headers: Record<string, string> = { ...o.headers }
    if (o.token !== undefined) headers.authorization = `Bearer ${o.token}`
    if (o.body !== undefined) headers['content-type'] ??= 'application/json'
    const res = await request(base + path, {
      method: method as 'GET',
      headers,
      body: o.body === undefined ? undefined : JSON.stringify(o.body)
    })
    const raw = await res.body.text()
    let body: unknown = raw
    try { body = JSON.parse(raw) } catch {}
    return { status: res.statusCode, headers: res.headers, body: body as T, raw }
  }

  const sim: Sim = {
    base,
    call,
    async anon (clientId = `client-${++clientSeq}`) {
      const res = await call('POST', '/api/auth/anonymous-token', { headers: { 'x-client-id': clientId } })
      if (res.body?.code !== 0) throw new Error('mint failed: ' + res.raw)
      return res.body.data
    },
    async registered (credits) {
      return (await call('POST', '/__sim/tokens', { body: credits === undefined ? undefined : { credits } })).body
    },
    async session (token) {
      const res = await call('POST', '/api/tasks/me/with-session/nemo_agent', { token, body: { task_name: 'project', language: 'en' } })
      return res.body.data.session_id
    },
    sse: (token, sessionId, text, extra = {}) => rawSse(base, token, {
      app_name: 'nemo_agent', user_id: 'me', session_id: sessionId, new_message: { parts: [{ text }] }, ...extra
    }),
    async counters () {
      return (await call('GET', '/__sim/counters')).body
    }
  }
  return sim
}

/** node:http keeps whatever arrived before a server-side drop, which undici would discard. */
export function rawSse (base: string, token: string, body: unknown): Promise<SseResult> {
  return new Promise((resolve, reject) => {
    const req = http.request(base + '/run_sse', {
      method: 'POST',
      agent: false,
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json', accept: 'text/event-stream' }
    }, (res) => {
      let text = ''
      res.setEncoding('utf8')
      res.on('data', (c: string) => { text += c })
      res.on('error', () => {})
      res.on('close', () => resolve({ status: res.statusCode ?? 0, contentType: String(res.headers['content-type']), text, complete: res.complete }))
    })
    req.on('error', reject)
    req.end(JSON.stringify(body))
  })
}

/** The JSON payloads of the `data:` frames, in order (heartbeat comments and empty data skipped). */
export function dataFrames (text: string): any[] {
  return text.split('\n\n')
    .filter((f) => f.startsWith('data: ') && f.length > 'data: '.length)
    .map((f) => JSON.parse(f.slice('data: '.length)))
}

export async function until<T> (fn: () => Promise<T>, ok: (v: T) => boolean, ms = 2000): Promise<T> {
  const end = Date.now() + ms
  for (;;) {
    const v = await fn()
    if (ok(v) || Date.now() > end) return v
    await new Promise((resolve) => setTimeout(resolve, 10))
  }
}

/** A multipart/form-data body produced as a stream, file by file, chunk by chunk. */
export function multipart (files: Array<{ field?: string, filename: string, chunks: () => AsyncIterable<Buffer> }>): { body: Readable, contentType: string } {
  const boundary = '----simtest' + Math.floor(Date.now() % 1e9)
  async function * gen () {
    for (const f of files) {
      yield Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="${f.field ?? 'files'}"; filename="${f.filename}"\r\nContent-Type: application/octet-stream\r\n\r\n`)
      yield * f.chunks()
      yield Buffer.from('\r\n')
    }
    yield Buffer.from(`--${boundary}--\r\n`)
  }
  return { body: Readable.from(gen()), contentType: `multipart/form-data; boundary=${boundary}` }
}

export async function * bytes (total: number, chunk = 64 * 1024, fill = 7): AsyncIterable<Buffer> {
  for (let sent = 0; sent < total; sent += chunk) {
    const b = Buffer.alloc(Math.min(chunk, total - sent))
    for (let i = 0; i < b.length; i++) b[i] = (sent + i) * fill % 251
    yield b
  }
}
