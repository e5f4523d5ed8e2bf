// A real SSE client for tests: connects over HTTP, parses frames, stops when told.
import { request, type Dispatcher } from 'undici'

export interface SseFrame { id?: string, event?: string, data: string, json: any }

export async function readSse (url: string, opts: {
  method?: 'GET' | 'POST'
  headers?: Record<string, string>
  body?: unknown
  /** Stop (and disconnect) after the frame for which this returns true. */
  until?: (frame: SseFrame, all: SseFrame[]) => boolean
  timeoutMs?: number
  /** The connection pool to use (default: undici's global one). */
  dispatcher?: Dispatcher
}): Promise<{ status: number, headers: Record<string, unknown>, frames: SseFrame[] }> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(new Error('sse read timed out')), opts.timeoutMs ?? 20_000)
  const res = await request(url, {
    method: opts.method ?? 'GET',
    headers: { accept: 'text/event-stream', ...(opts.body !== undefined ? { 'content-type': 'application/json' } : {}), ...opts.headers },
    body: opts.body !== undefined ? JSON.stringify(opts.body) : undefined,
    signal: controller.signal,
    ...(opts.dispatcher === undefined ? {} : { dispatcher: opts.dispatcher })
  })
  const frames: SseFrame[] = []
  if (res.statusCode !== 200) {
    clearTimeout(timer)
    frames.push({ data: await res.body.text(), json: null })
    return { status: res.statusCode, headers: res.headers, frames }
  }
  let buffer = ''
  try {
    for await (const chunk of res.body) {
      buffer += chunk.toString()
      let idx
      while ((idx = buffer.indexOf('\n\n')) >= 0) {
        const raw = buffer.slice(0, idx)
        buffer = buffer.slice(idx + 2)
        const frame: SseFrame = { data: '', json: null }
        const data: string[] = []
        for (const line of raw.split('\n')) {
          if (line.startsWith(':')) continue
          const [field, ...rest] = line.split(':')
          const value = rest.join(':').replace(/^ /, '')
          if (field === 'id') frame.id = value
          else if (field === 'event') frame.event = value
          else if (field === 'data') data.push(value)
        }
        if (data.length === 0) continue
        frame.data = data.join('\n')
        try { frame.json = JSON.parse(frame.data) } catch { frame.json = null }
        frames.push(frame)
        if (opts.until?.(frame, frames) === true) {
          res.body.destroy()
          return { status: res.statusCode, headers: res.headers, frames }
        }
      }
    }
  } catch (err) {
    if (!controller.signal.aborted) throw err
  } finally {
    clearTimeout(timer)
  }
  return { status: res.statusCode, headers: res.headers, frames }
}

export async function waitFor<T> (fn: () => Promise<T>, ok: (v: T) => boolean, timeoutMs = 10_000): Promise<T> {
  const end = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (ok(v)) return v
    if (Date.now() > end) throw new Error(`waitFor timed out; last value: ${JSON.stringify(v)}`)
    await new Promise(resolve => setTimeout(resolve, 25))
  }
}
