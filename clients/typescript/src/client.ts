// The thin runtime under the generated methods: URL and headers from the operation table,
// retries (POSTs keep one Idempotency-Key across them), problems as GatewayProblem, and a
// session's or a turn's events as an async iterator over SSE that resumes after a cut.
import { randomUUID } from 'node:crypto'
import { GeneratedClient, operations, type OperationId, type RequestOptions, type SessionEvent, type StartTurnInput } from './generated.ts'
import { GatewayProblem, problemOf } from './problem.ts'
import { readSse } from './sse.ts'

export interface ClientOptions {
  /** The gateway's base URL, e.g. http://127.0.0.1:3000 */
  baseUrl: string
  /** A tenant API key (`ngw_...`), a client token, or the admin token for /admin routes. */
  token: string
  /** The end user calls act for (`X-User-Id`), unless a call says otherwise. */
  userId?: string
  /** Retries after a 429/502/503 or a dropped connection (default 2). */
  retries?: number
  /** The first retry's delay in ms, doubled each time (default 200); Retry-After wins. */
  retryDelayMs?: number
  fetch?: typeof fetch
}

const RETRYABLE = new Set([429, 502, 503])
const TERMINAL = new Set(['turn.completed', 'turn.failed'])

const sleep = async (ms: number, signal?: AbortSignal): Promise<void> => await new Promise((resolve, reject) => {
  const timer = setTimeout(resolve, ms)
  signal?.addEventListener('abort', () => { clearTimeout(timer); reject(signal.reason) }, { once: true })
})

export class GatewayClient extends GeneratedClient {
  readonly #opts: ClientOptions
  readonly #fetch: typeof fetch

  constructor (opts: ClientOptions) {
    super()
    this.#opts = { ...opts, baseUrl: opts.baseUrl.replace(/\/+$/, '') }
    this.#fetch = opts.fetch ?? globalThis.fetch
  }

  /** Another client for another end user, sharing everything else. */
  forUser (userId: string): GatewayClient {
    return new GatewayClient({ ...this.#opts, userId })
  }

  protected async request (operation: OperationId, input: Record<string, unknown>, options: RequestOptions = {}): Promise<unknown> {
    const op = operations[operation]
    let path: string = op.path
    for (const name of op.pathParams) path = path.replace(`{${name}}`, encodeURIComponent(String(input[name])))
    const url = new URL(this.#opts.baseUrl + path)
    for (const name of op.query) if (input[name] !== undefined) url.searchParams.set(name, String(input[name]))
    const headers: Record<string, string> = { accept: 'application/json', ...this.#headers(options) }
    for (const [field, name] of Object.entries(op.headers)) if (input[field] !== undefined) headers[name] = String(input[field])
    if (op.idempotencyKey) headers['idempotency-key'] = options.idempotencyKey ?? randomUUID()
    let body: string | FormData | undefined
    if (op.body && input.body !== undefined) {
      if (input.body instanceof FormData) body = input.body
      else { body = JSON.stringify(input.body); headers['content-type'] = 'application/json' }
    } else if (op.body) {
      body = '{}'
      headers['content-type'] = 'application/json'
    }
    // a retried POST without an Idempotency-Key could do the work twice: only with one
    const retries = op.method === 'GET' || op.idempotencyKey ? (options.retries ?? this.#opts.retries ?? 2) : 0
    const res = await this.#send(url, { method: op.method, headers, body, signal: options.signal }, retries)
    if (op.answer === 'raw') return res
    if (res.status === 204 || op.answer === 'none') return undefined
    return await res.json()
  }

  #headers (options: RequestOptions): Record<string, string> {
    const userId = options.userId ?? this.#opts.userId
    return {
      authorization: `Bearer ${this.#opts.token}`,
      ...(userId !== undefined ? { 'x-user-id': userId } : {}),
      ...options.headers
    }
  }

  /** Sends, retrying the same request (same headers, so the same Idempotency-Key). */
  async #send (url: URL, init: RequestInit, retries: number): Promise<Response> {
    const base = this.#opts.retryDelayMs ?? 200
    for (let attempt = 0; ; attempt++) {
      let res: Response
      try {
        res = await this.#fetch(url, init)
      } catch (err) {
        if (attempt >= retries || (init.signal?.aborted ?? false)) throw err
        await sleep(base * 2 ** attempt, init.signal ?? undefined)
        continue
      }
      if (res.ok || (res.status >= 300 && res.status < 400)) return res
      if (!RETRYABLE.has(res.status) || attempt >= retries) throw await problemOf(res)
      const after = Number(res.headers.get('retry-after'))
      await res.body?.cancel().catch(() => {})
      await sleep(Number.isFinite(after) && after > 0 ? Math.min(after * 1000, 30_000) : base * 2 ** attempt, init.signal ?? undefined)
    }
  }

  /**
   * The session's events from `after` (a cursor; default: from the start), as they happen. A
   * cut stream is reopened with `Last-Event-ID` set to the last event seen, so nothing is lost
   * or repeated. Runs until the loop breaks or `signal` aborts.
   */
  async * events (sessionId: string, opts: { after?: string, signal?: AbortSignal, userId?: string, reconnectDelayMs?: number } = {}): AsyncGenerator<SessionEvent> {
    let last = opts.after
    for (let failures = 0; ; failures++) {
      const url = new URL(`${this.#opts.baseUrl}/v1/sessions/${encodeURIComponent(sessionId)}/events`)
      const headers = { ...this.#headers({ userId: opts.userId }), accept: 'text/event-stream', ...(last !== undefined ? { 'last-event-id': last } : {}) }
      try {
        const res = await this.#fetch(url, { headers, signal: opts.signal })
        if (!res.ok) {
          if (!RETRYABLE.has(res.status) || failures >= 5) throw await problemOf(res)
          await res.body?.cancel().catch(() => {})
        } else {
          for await (const frame of readSse(res)) {
            if (frame.event === 'error' || frame.id === undefined) continue
            last = frame.id
            failures = 0
            yield JSON.parse(frame.data) as SessionEvent
          }
        }
      } catch (err) {
        if (err instanceof GatewayProblem || (opts.signal?.aborted ?? false) || failures >= 5) throw err
      }
      await sleep(opts.reconnectDelayMs ?? 250, opts.signal)
    }
  }

  /**
   * Starts a turn and yields its events, from turn.started to turn.completed or turn.failed.
   * The turn's own stream is read first; after a cut the session's stream takes over from the
   * last event seen (`Last-Event-ID`), keeping only this turn's events.
   */
  async * turn (input: StartTurnInput, opts: { signal?: AbortSignal, userId?: string, idempotencyKey?: string } = {}): AsyncGenerator<SessionEvent> {
    const url = new URL(`${this.#opts.baseUrl}/v1/sessions/${encodeURIComponent(input.sessionId)}/turns`)
    const headers = {
      ...this.#headers({ userId: opts.userId }),
      accept: 'text/event-stream',
      'content-type': 'application/json',
      'idempotency-key': opts.idempotencyKey ?? randomUUID()
    }
    const res = await this.#send(url, { method: 'POST', headers, body: JSON.stringify(input.body), signal: opts.signal }, this.#opts.retries ?? 2)
    let turnId: string | undefined
    let last: string | undefined
    try {
      for await (const frame of readSse(res)) {
        if (frame.event === 'error' || frame.id === undefined) continue
        const event = JSON.parse(frame.data) as SessionEvent
        last = frame.id
        turnId ??= event.turnId ?? undefined
        yield event
        if (TERMINAL.has(event.type)) return
      }
    } catch (err) {
      if (opts.signal?.aborted ?? false) throw err
    }
    if (turnId === undefined || last === undefined) throw new GatewayProblem(0, { code: 'GW_CLIENT_STREAM_CUT', detail: 'the turn stream ended before its first event' })
    for await (const event of this.events(input.sessionId, { after: last, signal: opts.signal, userId: opts.userId })) {
      if (event.turnId !== turnId) continue
      yield event
      if (TERMINAL.has(event.type)) return
    }
  }
}
