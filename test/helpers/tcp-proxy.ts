// TCP proxies for outages. `stallingProxy` (in front of Postgres) can stall: while stalled it
// forwards nothing in either direction and holds new connections unanswered, as a database
// stopped with SIGSTOP (or a dead network path) does; resuming lets everything through again.
// `cuttingProxy` (in front of Redis) can be cut: its connections drop and new ones are refused,
// as a stopped server's are, until it is restored on the same port.
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

export interface CuttingProxy {
  /** `url` with its host and port replaced by the proxy's. */
  url: string
  /** Drops every connection and refuses new ones, as a stopped server does. */
  cut: () => Promise<void>
  /** Accepts (and forwards) again, on the same port. */
  restore: () => Promise<void>
}

/** A TCP proxy that can be cut: while cut, nothing listens on its port (connections are refused). */
export async function cuttingProxy (t: Test, target: string): Promise<CuttingProxy> {
  const to = new URL(target)
  const sockets = new Set<net.Socket>()
  const server = net.createServer((client) => {
    const upstream = net.connect(Number(to.port), to.hostname)
    sockets.add(client).add(upstream)
    client.pipe(upstream)
    upstream.pipe(client)
    const end = () => { sockets.delete(client); sockets.delete(upstream); client.destroy(); upstream.destroy() }
    client.on('error', end).on('close', end)
    upstream.on('error', end).on('close', end)
  })
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve))
  const { port } = server.address() as net.AddressInfo
  const close = async () => {
    for (const s of sockets) s.destroy()
    sockets.clear()
    if (server.listening) await new Promise<void>((resolve) => server.close(() => resolve()))
  }
  t.teardown(close)
  const url = new URL(target)
  url.hostname = '127.0.0.1'
  url.port = String(port)
  return {
    url: url.toString(),
    cut: close,
    restore: async () => { await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve)) }
  }
}
