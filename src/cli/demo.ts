// `npm run demo`: the whole product in one command. Starts the Nemo simulator and the gateway
// (embedded Postgres in a throwaway DATA_DIR unless DEMO_DATA_DIR is given), then walks the
// journey a user's product makes: make a sample video, upload it, ask for HD, watch the turn,
// read the timeline, export, receive and verify the signed webhook, download the MP4 into
// ./demo-output/ and read it back. Stops everything it started; exits 1 if any step fails.
import { spawn, type ChildProcess } from 'node:child_process'
import { once } from 'node:events'
import { createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { createServer, type IncomingMessage, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join, relative, resolve } from 'node:path'
import { Readable, Transform } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { fileURLToPath } from 'node:url'
import { createParser } from 'eventsource-parser'
import { Listr, type ListrTaskWrapper } from 'listr2'
import { Webhook } from 'standardwebhooks'
import { mp4Info } from '../media/mp4-info.ts'
import { renderMp4 } from '../simulator/mp4.ts'
import { sendAgainWhenRefused } from './send-again.ts'

const ROOT = fileURLToPath(new URL('../..', import.meta.url))
const HERE = fileURLToPath(new URL('.', import.meta.url))
const OUTPUT_DIR = resolve(process.env.DEMO_OUTPUT_DIR ?? 'demo-output')
const ASK = 'enhance and upscale this video to 1080p'
const SAMPLE = { width: 1280, height: 720, durationMs: 5000 }

interface Context {
  dataDir: string
  children: ChildProcess[]
  receiver?: Server
  simulator: string
  gateway: string
  key: string
  sessionId: string
  exportId: string
  downloadUrl: string
  webhook: Promise<{ id: string, type: string, body: Record<string, unknown> }>
  sample: Buffer
  file: string
  logs: string[]
}

type Task = ListrTaskWrapper<Context, any, any>

const userHeaders = (ctx: Context) => ({ authorization: `Bearer ${ctx.key}`, 'x-user-id': 'demo-user' })

const TTY = process.stdout.isTTY === true

function bar (fraction: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width)
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.round(fraction * 100)).padStart(3)}%`
}

const mb = (bytes: number) => `${(bytes / 1024 / 1024).toFixed(2)} MB`

/**
 * A progress line: redrawn in place on a terminal; as plain lines (one per 20 %) when stdout is
 * a file or a pipe, so a log of the demo stays readable.
 */
function progress (task: Task): (fraction: number, text: string) => void {
  let shown = -1
  return (fraction, text) => {
    const step = Math.floor(fraction * 5)
    if (!TTY && step === shown) return
    shown = step
    task.output = `${bar(fraction)}  ${text}`
  }
}

/** A child process of ours (the same Node), its output kept for the failure report. */
function launch (ctx: Context, name: string, script: string, env: Record<string, string>): ChildProcess {
  const child = spawn(process.execPath, ['--enable-source-maps', ...(name === 'gateway' ? [`--import=${join(HERE, '..', 'telemetry.js')}`] : []), script], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'pipe', 'pipe']
  })
  ctx.children.push(child)
  const keep = (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n')) if (line.trim() !== '') ctx.logs.push(`${name}: ${line}`)
    if (ctx.logs.length > 200) ctx.logs.splice(0, ctx.logs.length - 200)
  }
  child.stdout?.on('data', keep)
  child.stderr?.on('data', keep)
  return child
}

/** Resolves with the first match of `pattern` in the child's stdout; rejects if it exits first. */
async function waitForOutput (child: ChildProcess, pattern: RegExp, what: string, timeoutMs = 60_000): Promise<RegExpExecArray> {
  let out = ''
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { reject(new Error(`${what}: not ready after ${timeoutMs / 1000} s`)) }, timeoutMs)
    child.stdout?.on('data', (chunk: Buffer) => {
      out += chunk.toString()
      const m = pattern.exec(out)
      if (m !== null) {
        clearTimeout(timer)
        resolve(m)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`${what} exited (code ${code}) before it was ready`))
    })
  })
}

async function api<T = any> (ctx: Context, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<{ status: number, body: T }> {
  const res = await sendAgainWhenRefused(`${ctx.gateway}${path}`, () => ({
    method: method as 'GET',
    headers: { ...userHeaders(ctx), ...(body !== undefined ? { 'content-type': 'application/json' } : {}), ...headers },
    body: body !== undefined ? JSON.stringify(body) : undefined
  }))
  const text = await res.body.text()
  const parsed = text === '' ? null : JSON.parse(text)
  if (res.statusCode >= 400) throw new Error(`${method} ${path} answered ${res.statusCode}: ${parsed?.code ?? ''} ${parsed?.detail ?? text}`)
  return { status: res.statusCode, body: parsed as T }
}

async function startSimulator (ctx: Context): Promise<void> {
  // SIM_* variables given to the demo reach the simulator (e.g. SIM_RENDER_FAILURE_RATE=1)
  const given = Object.fromEntries(Object.entries(process.env).filter((e): e is [string, string] => e[0].startsWith('SIM_') && e[1] !== undefined))
  const sim = launch(ctx, 'simulator', join(HERE, '..', 'simulator', 'server.js'), {
    SIM_RENDER_DURATION_MS: '8000', SIM_GENERATION_MS: '3000', SIM_HEARTBEAT_INTERVAL_MS: '1000', ...given, SIM_PORT: '0'
  })
  const m = await waitForOutput(sim, /Server listening at (http:\/\/127\.0\.0\.1:\d+)/, 'the simulator')
  ctx.simulator = m[1]!
}

async function startGateway (ctx: Context, task: Task): Promise<void> {
  const gw = launch(ctx, 'gateway', join(HERE, '..', 'server.js'), {
    DATA_DIR: ctx.dataDir,
    PORT: '0',
    LOG_LEVEL: 'warn',
    NEMO_BASE_URL: ctx.simulator,
    WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
    EXPORT_POLL_INITIAL_MS: '1000',
    EXPORT_POLL_MAX_MS: '1000',
    JOBS_POLL_INTERVAL_MS: '500'
  })
  task.output = `DATA_DIR ${ctx.dataDir}`
  const m = await waitForOutput(gw, /Bearer (ngw_\S+)" -H "X-User-Id: alice" (http:\/\/127\.0\.0\.1:\d+)\//, 'the gateway')
  ctx.key = m[1]!
  ctx.gateway = m[2]!
  task.output = `${ctx.gateway}  (embedded Postgres in ${ctx.dataDir}, first-run API key ngw_${ctx.key.split('_')[1] ?? ''}_…)`
}

/** A local receiver; resolves ctx.webhook with the first message whose signature verifies. */
async function startReceiver (ctx: Context, task: Task): Promise<void> {
  let secret = ''
  let resolveHook: (v: { id: string, type: string, body: Record<string, unknown> }) => void = () => {}
  ctx.webhook = new Promise((resolve) => { resolveHook = resolve })
  const server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const raw = Buffer.concat(chunks).toString('utf8')
      try {
        const event = new Webhook(secret).verify(raw, req.headers as Record<string, string>) as { type: string }
        res.writeHead(204).end()
        resolveHook({ id: String(req.headers['webhook-id']), type: event.type, body: event as Record<string, unknown> })
      } catch {
        res.writeHead(400).end('bad signature')
      }
    })
  })
  ctx.receiver = server
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  const address = server.address()
  const url = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/nemo`
  const endpoint = await api<{ id: string, secret: string }>(ctx, 'POST', '/v1/webhooks/endpoints', {
    url, events: ['export.completed', 'export.failed'], description: 'npm run demo'
  })
  secret = endpoint.body.secret
  task.output = `${url} (endpoint ${endpoint.body.id}, secret whsec_… shown once)`
}

async function upload (ctx: Context, task: Task): Promise<void> {
  const boundary = `----nemo-demo-${Date.now()}`
  const head = Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="sample.mp4"\r\nContent-Type: video/mp4\r\n\r\n`)
  const tail = Buffer.from(`\r\n--${boundary}--\r\n`)
  const total = ctx.sample.length
  const show = progress(task)
  // a meter per attempt: a refused upload (503 with Retry-After) is sent again from its start
  const metered = () => {
    let sent = 0
    return new Transform({
      transform (chunk: Buffer, _enc, cb) {
        sent += chunk.length
        show(sent / total, `${mb(sent)} / ${mb(total)}`)
        cb(null, chunk)
      }
    })
  }
  const chunks = function * () {
    for (let at = 0; at < total; at += 64 * 1024) yield ctx.sample.subarray(at, at + 64 * 1024)
  }
  const res = await sendAgainWhenRefused(`${ctx.gateway}/v1/sessions/${ctx.sessionId}/uploads`, () => ({
    method: 'POST',
    headers: { ...userHeaders(ctx), 'content-type': `multipart/form-data; boundary=${boundary}` },
    body: Readable.from((async function * () {
      yield head
      for await (const c of Readable.from(chunks()).pipe(metered())) yield c as Buffer
      yield tail
    })())
  }))
  const answer = await res.body.json() as { items?: Array<{ size: number, sha256: string, duration: number | null, width: number | null, height: number | null }>, code?: string, detail?: string }
  const file = answer.items?.[0]
  if (res.statusCode >= 300 || file === undefined) throw new Error(`upload answered ${res.statusCode}: ${answer.code ?? ''} ${answer.detail ?? ''}`)
  task.output = `sample.mp4: ${mb(file.size)} received, sha256 ${file.sha256.slice(0, 12)}…, the upstream read ${file.duration ?? '?'} s ${file.width ?? '?'}x${file.height ?? '?'}`
}

/** The turn's events, live, over SSE until turn.completed or turn.failed. */
async function turn (ctx: Context, task: Task): Promise<void> {
  const res = await sendAgainWhenRefused(`${ctx.gateway}/v1/sessions/${ctx.sessionId}/turns`, () => ({
    method: 'POST',
    headers: { ...userHeaders(ctx), accept: 'text/event-stream', 'content-type': 'application/json' },
    body: JSON.stringify({ text: ASK })
  }))
  if (res.statusCode >= 300) throw new Error(`the turn answered ${res.statusCode}: ${await res.body.text()}`)
  const lines: string[] = []
  let outcome: { type: string, payload: any } | undefined
  const show = (line: string) => {
    if (lines.at(-1) === line) return
    lines.push(line)
    task.output = TTY ? lines.slice(-6).join('\n') : line
  }
  const parser = createParser({
    onEvent: (message) => {
      const event = JSON.parse(message.data) as { type: string, payload: any }
      const p = event.payload ?? {}
      if (event.type === 'tool.started') show(`tool ${p.name ?? p.tool ?? ''} started`)
      else if (event.type === 'tool.finished') show(`tool ${p.name ?? p.tool ?? ''} finished`)
      else if (event.type === 'heartbeat') show('… working (heartbeat)')
      else if (event.type === 'text') show(`agent: ${String(p.text ?? '').slice(0, 140)}`)
      else if (event.type === 'state.changed') show(`timeline: ${p.summary ?? ''}`)
      if (event.type === 'turn.completed' || event.type === 'turn.failed') outcome = event
    }
  })
  for await (const chunk of res.body) {
    parser.feed(chunk.toString())
    if (outcome !== undefined) break
  }
  res.body.destroy()
  if (outcome === undefined) throw new Error('the turn stream ended without an outcome')
  if (outcome.type === 'turn.failed') throw new Error(`the turn failed: ${JSON.stringify(outcome.payload.error ?? outcome.payload)}`)
  show(`turn ${outcome.payload.status ?? 'completed'}`)
}

async function exportAndWatch (ctx: Context, task: Task): Promise<void> {
  const started = await api(ctx, 'POST', `/v1/sessions/${ctx.sessionId}/exports`, { quality: 'high', resolution: '1080p' }, { 'idempotency-key': `demo-${ctx.sessionId}` })
  ctx.exportId = started.body.id
  task.output = `export ${ctx.exportId}, render ${started.body.renderId ?? '(queued)'}`
  const show = progress(task)
  for (const deadline = Date.now() + 120_000; Date.now() < deadline;) {
    const view = (await api(ctx, 'GET', `/v1/exports/${ctx.exportId}`)).body
    show((view.progress ?? 0) / 100, view.status)
    if (view.status === 'completed') {
      ctx.downloadUrl = view.downloadUrl
      return
    }
    if (view.status === 'failed' || view.status === 'cancelled') throw new Error(`the export ${view.status}: ${JSON.stringify(view.error)}`)
    await new Promise((resolve) => setTimeout(resolve, 500))
  }
  throw new Error('the export did not finish within 2 minutes')
}

async function download (ctx: Context, task: Task): Promise<void> {
  const res = await sendAgainWhenRefused(`${ctx.gateway}/v1/exports/${ctx.exportId}/download`, () => ({ headers: userHeaders(ctx) }))
  if (res.statusCode !== 200) throw new Error(`the download answered ${res.statusCode}: ${await res.body.text()}`)
  const total = Number(res.headers['content-length'] ?? 0)
  let got = 0
  const show = progress(task)
  await mkdir(OUTPUT_DIR, { recursive: true })
  ctx.file = join(OUTPUT_DIR, `nemo-export-${ctx.exportId.slice(0, 8)}.mp4`)
  await pipeline(res.body, new Transform({
    transform (chunk: Buffer, _enc, cb) {
      got += chunk.length
      show(total > 0 ? got / total : 0, `${mb(got)} / ${mb(total)}`)
      cb(null, chunk)
    }
  }), createWriteStream(ctx.file))
  const info = mp4Info(await readFile(ctx.file))
  if (info === null || info.width === null) throw new Error(`${ctx.file} is not a readable MP4`)
  task.output = `${relative(process.cwd(), ctx.file)}: ${mb(got)}, ${(info.durationMs / 1000).toFixed(1)} s, ${info.width}x${info.height} H.264 MP4`
}

async function stopAll (ctx: Context, keepData: boolean): Promise<void> {
  ctx.receiver?.close()
  await Promise.all(ctx.children.map(async (child) => {
    if (child.exitCode !== null || child.signalCode !== null) return
    const exited = once(child, 'exit')
    child.kill('SIGTERM')
    const timer = setTimeout(() => child.kill('SIGKILL'), 15_000)
    await exited
    clearTimeout(timer)
  }))
  if (!keepData) await rm(ctx.dataDir, { recursive: true, force: true })
}

async function main (): Promise<number> {
  const keepData = process.env.DEMO_DATA_DIR !== undefined
  const ctx = {
    dataDir: keepData ? resolve(process.env.DEMO_DATA_DIR!) : await mkdtemp(join(tmpdir(), 'nemo-demo-')),
    children: [],
    logs: []
  } as unknown as Context
  const opts = { persistentOutput: true, bottomBar: Infinity }
  const tasks = new Listr<Context>([
    { title: 'Start the Nemo simulator', task: async (c) => { await startSimulator(c) } },
    { title: 'Start the gateway (embedded Postgres, first run)', task: async (c, t) => { await startGateway(c, t) }, rendererOptions: opts },
    { title: 'Receive webhooks on a local receiver', task: async (c, t) => { await startReceiver(c, t) }, rendererOptions: opts },
    {
      title: `Make a sample video (${SAMPLE.durationMs / 1000} s, ${SAMPLE.width}x${SAMPLE.height})`,
      task: async (c, t) => {
        c.sample = renderMp4(SAMPLE)
        await mkdir(OUTPUT_DIR, { recursive: true })
        await writeFile(join(OUTPUT_DIR, 'sample.mp4'), c.sample)
        t.output = `${relative(process.cwd(), join(OUTPUT_DIR, 'sample.mp4'))} (${mb(c.sample.length)})`
      },
      rendererOptions: opts
    },
    {
      title: 'Open an editing session',
      task: async (c, t) => {
        c.sessionId = (await api(c, 'POST', '/v1/sessions', { title: 'npm run demo' })).body.id
        t.output = `session ${c.sessionId}`
      },
      rendererOptions: opts
    },
    { title: 'Upload the video (streamed through to the upstream)', task: async (c, t) => { await upload(c, t) }, rendererOptions: opts },
    { title: `Ask: "${ASK}"`, task: async (c, t) => { await turn(c, t) }, rendererOptions: opts },
    {
      title: 'Read the timeline',
      task: async (c, t) => { t.output = (await api(c, 'GET', `/v1/sessions/${c.sessionId}/state`)).body.summary },
      rendererOptions: opts
    },
    { title: 'Export to a 1080p MP4 (a durable render job)', task: async (c, t) => { await exportAndWatch(c, t) }, rendererOptions: opts },
    {
      title: 'Receive the signed export.completed webhook',
      task: async (c, t) => {
        const timeout = new Promise<never>((_resolve, reject) => setTimeout(() => reject(new Error('no webhook within 30 s')), 30_000).unref())
        const hook = await Promise.race([c.webhook, timeout])
        if (hook.type !== 'export.completed') throw new Error(`the webhook said ${hook.type}`)
        t.output = `${hook.type}, webhook-id ${hook.id}, signature verified (Standard Webhooks)`
      },
      rendererOptions: opts
    },
    { title: 'Download the MP4', task: async (c, t) => { await download(c, t) }, rendererOptions: opts }
  ], { exitOnError: true, renderer: 'default', fallbackRenderer: 'simple', rendererOptions: { collapseSubtasks: false } })

  let status = 0
  try {
    await tasks.run(ctx)
    process.stdout.write(`\nDone: ${relative(process.cwd(), ctx.file)} is the enhanced 1080p video.\n`)
  } catch (err) {
    process.stderr.write(`\nThe demo failed: ${(err as Error).message}\n`)
    if (ctx.logs.length > 0) process.stderr.write(`Last lines of the processes it started:\n${ctx.logs.slice(-20).map((l) => `  ${l}`).join('\n')}\n`)
    status = 1
  } finally {
    await stopAll(ctx, keepData)
  }
  return status
}

process.exitCode = await main()
