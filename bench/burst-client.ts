// A burst of HTTP requests from a process of its own, each on a new connection, for as little
// CPU as a client can spend (raw sockets, the request's bytes built once): the process that
// measures another caller's latency meanwhile must not be the one busy with the burst.
//
// `node bench/burst-client.ts` (Node 22.6+ strips the types; on Node 20: `--import=tsx`). It
// reads one JSON line on stdin, { host, port, requests: [{ method, path, headers, body }] },
// says "ready" on stdout, connects nothing until a second line ("go"), then sends every request
// at once. A response
// is read up to its status line, or for a 200 event stream up to its first `event: text`
// frame (or its end); the connection is then closed. One JSON line on stdout:
// { outcomes: [{ status, firstMs }] } in the order of the requests, ms from "go".
import { connect } from 'node:net'
import { createInterface } from 'node:readline'

interface Wanted { method: string, path: string, headers: Record<string, string>, body?: string }
interface Plan { host: string, port: number, requests: Wanted[] }
interface Outcome { status: number, firstMs: number }

function bytesOf (plan: Plan, r: Wanted): Buffer {
  const body = r.body === undefined ? '' : r.body
  const head = [`${r.method} ${r.path} HTTP/1.1`, `host: ${plan.host}:${plan.port}`, ...Object.entries(r.headers).map(([k, v]) => `${k}: ${v}`)]
  if (r.body !== undefined) head.push(`content-length: ${Buffer.byteLength(body)}`)
  return Buffer.from(head.join('\r\n') + '\r\n\r\n' + body)
}

async function one (plan: Plan, bytes: Buffer, t0: number): Promise<Outcome> {
  return await new Promise((resolve) => {
    const socket = connect(plan.port, plan.host, () => socket.write(bytes))
    let seen = ''
    let status = 0
    const done = (outcome: Outcome) => { socket.destroy(); resolve(outcome) }
    socket.on('data', (chunk: Buffer) => {
      seen += chunk.toString('latin1')
      if (status === 0) {
        const line = seen.indexOf('\r\n')
        if (line === -1) return
        status = Number(seen.slice(9, 12))
        if (status !== 200) { done({ status, firstMs: NaN }); return }
      }
      if (seen.includes('\nevent: text\n')) done({ status, firstMs: performance.now() - t0 })
    })
    socket.on('error', () => done({ status: status === 0 ? -1 : status, firstMs: NaN }))
    socket.on('close', () => done({ status: status === 0 ? -1 : status, firstMs: NaN }))
  })
}

const lines = createInterface({ input: process.stdin })[Symbol.asyncIterator]()
const plan = JSON.parse((await lines.next()).value as string) as Plan
const requests = plan.requests.map((r) => bytesOf(plan, r))
process.stdout.write('ready\n')
await lines.next()
const t0 = performance.now()
const outcomes = await Promise.all(requests.map(async (bytes) => await one(plan, bytes, t0)))
process.stdout.write(JSON.stringify({ outcomes }) + '\n')
process.exit(0)
