// A webhook receiver as a team would run one: a real HTTP server on 127.0.0.1 that verifies
// every delivery with the `standardwebhooks` library and can be told to fail.
import type { Test } from 'tap'
import { createServer, type IncomingHttpHeaders } from 'node:http'
import type { AddressInfo } from 'node:net'
import { Webhook } from 'standardwebhooks'

interface Delivery {
  headers: IncomingHttpHeaders
  body: string
  json: any
  /** Which of the receiver's secrets verified it (null: none did). */
  verifiedWith: string | null
  /** When it arrived (Date.now()). */
  receivedAt: number
}

export interface Receiver {
  url: string
  deliveries: Delivery[]
  /** Secrets the receiver accepts; set after creating the endpoint. */
  secrets: string[]
  /** The status to answer with next (default 204); a function sees each delivery. */
  respond: (status: number | ((d: Delivery) => number), headers?: Record<string, string>) => void
  /** Waits until `n` deliveries arrived. */
  waitFor: (n: number, timeoutMs?: number) => Promise<Delivery[]>
}

export async function startReceiver (t: Test): Promise<Receiver> {
  let status: number | ((d: Delivery) => number) = 204
  let extra: Record<string, string> = {}
  const waiters: Array<{ n: number, resolve: () => void }> = []
  const r: Receiver = {
    url: '',
    deliveries: [],
    secrets: [],
    respond: (s, h = {}) => { status = s; extra = h },
    waitFor: async (n, timeoutMs = 15_000) => {
      if (r.deliveries.length < n) {
        await new Promise<void>((resolve, reject) => {
          const timer = setTimeout(() => reject(new Error(`only ${r.deliveries.length} of ${n} webhook deliveries arrived`)), timeoutMs)
          waiters.push({ n, resolve: () => { clearTimeout(timer); resolve() } })
        })
      }
      return r.deliveries
    }
  }
  const server = createServer((req, res) => {
    const chunks: Buffer[] = []
    req.on('data', (c: Buffer) => chunks.push(c))
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8')
      const verifiedWith = r.secrets.find((s) => {
        try {
          new Webhook(s).verify(body, req.headers as Record<string, string>)
          return true
        } catch {
          return false
        }
      }) ?? null
      const d: Delivery = { headers: req.headers, body, json: JSON.parse(body), verifiedWith, receivedAt: Date.now() }
      r.deliveries.push(d)
      res.writeHead(typeof status === 'function' ? status(d) : status, extra).end('thanks')
      for (const w of waiters.filter(w => r.deliveries.length >= w.n)) w.resolve()
    })
  })
  await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  t.teardown(() => new Promise<void>(resolve => { server.closeAllConnections(); server.close(() => resolve()) }))
  r.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}/hooks`
  return r
}
