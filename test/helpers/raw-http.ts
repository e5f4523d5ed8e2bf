// HTTP/1.1 on a bare socket, for what `inject` cannot send: malformed requests, oversized
// headers, slow or idle clients. Responses are read as the server wrote them.
import net from 'node:net'
import type { Test } from 'tap'

export interface RawResponse {
  status: number
  headers: Record<string, string>
  body: string
  /** The server closed the connection after this response (or without one). */
  closed: boolean
}

/** Opens a connection that the test closes at its end. */
export async function connect (t: Test, port: number): Promise<net.Socket> {
  const socket = net.connect(port, '127.0.0.1')
  socket.on('error', () => {})
  t.teardown(() => { socket.destroy() })
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject))
  return socket
}

function parse (text: string): { head: RawResponse, length: number, headEnd: number } | null {
  const headEnd = text.indexOf('\r\n\r\n')
  if (headEnd < 0) return null
  const [statusLine, ...lines] = text.slice(0, headEnd).split('\r\n')
  const headers: Record<string, string> = {}
  for (const line of lines) {
    const colon = line.indexOf(':')
    headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim()
  }
  const status = Number(/^HTTP\/1\.[01] (\d{3})/.exec(statusLine ?? '')?.[1])
  return { head: { status, headers, body: '', closed: false }, length: Number(headers['content-length'] ?? 0), headEnd: headEnd + 4 }
}

/** Reads one response from `socket` (Content-Length framed, or up to the close). */
export async function readResponse (socket: net.Socket, timeoutMs = 5000): Promise<RawResponse | null> {
  return await new Promise((resolve, reject) => {
    let text = ''
    const done = (value: RawResponse | null) => {
      clearTimeout(timer)
      socket.off('data', onData).off('close', onClose)
      resolve(value)
    }
    const onData = (chunk: Buffer) => {
      text += chunk.toString('latin1')
      const parsed = parse(text)
      if (parsed && text.length - parsed.headEnd >= parsed.length) {
        done({ ...parsed.head, body: Buffer.from(text.slice(parsed.headEnd, parsed.headEnd + parsed.length), 'latin1').toString('utf8') })
      }
    }
    const onClose = () => {
      const parsed = parse(text)
      done(parsed ? { ...parsed.head, body: text.slice(parsed.headEnd), closed: true } : null)
    }
    const timer = setTimeout(() => reject(new Error(`no response within ${timeoutMs} ms; got ${JSON.stringify(text.slice(0, 200))}`)), timeoutMs)
    socket.on('data', onData).on('close', onClose)
  })
}

/** Sends `text` on a new connection and reads the one response. */
export async function rawRequest (t: Test, port: number, text: string): Promise<RawResponse | null> {
  const socket = await connect(t, port)
  const response = readResponse(socket)
  socket.write(text)
  const res = await response
  socket.destroy()
  return res
}

/** Resolves with how long after the call the server closed `socket`. */
export async function closedAfter (socket: net.Socket, timeoutMs: number): Promise<number> {
  const started = performance.now()
  return await new Promise((resolve, reject) => {
    if (socket.destroyed) return resolve(0)
    const timer = setTimeout(() => reject(new Error(`the socket was still open after ${timeoutMs} ms`)), timeoutMs)
    socket.once('close', () => {
      clearTimeout(timer)
      resolve(performance.now() - started)
    })
  })
}
