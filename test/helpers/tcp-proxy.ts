// A TCP proxy in front of Postgres that can stall: while stalled it forwards nothing in either
// direction and holds new connections unanswered, as a database stopped with SIGSTOP (or a
// dead network path) does. Resuming lets everything through again.
import net from 'node:net'
import type { Test } from 'tap'

export interface StallingProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url: string
  stall: () => void
  resume: () => void
}

export async function stallingProxy (t: Test, target: string): Promise<StallingProxy> {
  const to = new URL(target)
  const pairs = new Set<[net.Socket, net.Socket]>()
  const held: net.Socket[] = []
  let stalled = false

  const connect = (client: net.Socket) => {
    const upstream = net.connect(Number(to.port || 5432), to.hostname)
    const pair: [net.Socket, net.Socket] = [client, upstream]
    pairs.add(pair)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => { pairs.delete(pair); client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  }

  const server = net.createServer((client) => {
    if (stalled) {
      client.pause()
      held.push(client)
      client.on('error', () => {})
      return
    }
    connect(client)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  t.teardown(async () => {
    for (const [a, b] of pairs) { a.destroy(); b.destroy() }
    for (const c of held) c.destroy()
    await new Promise<void>((resolve) => server.close(() => resolve()))
  })
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    stall: () => {
      stalled = true
      for (const [a, b] of pairs) {
        a.unpipe(b); b.unpipe(a); a.pause(); b.pause()
      }
    },
    resume: () => {
      stalled = false
      for (const [a, b] of pairs) {
        a.pipe(b); b.pipe(a); a.resume(); b.resume()
      }
      for (const c of held.splice(0)) if (!c.destroyed) { c.resume(); connect(c) }
    }
  }
}
