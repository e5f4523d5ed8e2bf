// A graphql-transport-ws subscriber for measuring, not for use: a plain TCP socket that speaks
// just enough WebSocket (the upgrade, masked client frames, unmasked server frames) to start one
// subscription, then only records what arrives: a receive stamp and a copy of the bytes for each
// read, nothing parsed. The frames are parsed after the run. With graphql-ws (ws' frame parser,
// a JSON.parse and graphql-ws' checks per message) this client took about as long to read one
// frame as the gateway took to write it, so 1,000 subscribers' stamps measured the client.
import { randomBytes, randomUUID } from 'node:crypto'
import { connect, type Socket } from 'node:net'

/** One message as received: its receive stamp (`performance.now()` of the read that completed it). */
export interface Received { at: number, message: { type?: string, id?: string, payload?: any } }

/** What is read until the subscription is running: the upgrade answer, then `connection_ack`. */
class Handshake {
  private pending = Buffer.alloc(0)
  private upgraded = false
  /** `onFrame` answers true when the handshake is over: what follows is returned by `read`. */
  constructor (private readonly onFrame: (opcode: number, data: Buffer) => boolean, private readonly fail: (err: Error) => void) {}

  read (chunk: Buffer): Buffer | undefined {
    this.pending = Buffer.concat([this.pending, chunk])
    if (!this.upgraded) {
      const end = this.pending.indexOf('\r\n\r\n')
      if (end < 0) return undefined
      const head = this.pending.subarray(0, end).toString('latin1')
      if (!head.startsWith('HTTP/1.1 101')) { this.fail(new Error(`upgrade refused: ${head.split('\r\n')[0]}`)); return undefined }
      this.upgraded = true
      this.pending = this.pending.subarray(end + 4)
    }
    for (;;) {
      const frame = nextFrame(this.pending, 0)
      if (frame === undefined) return undefined
      this.pending = this.pending.subarray(frame.end)
      if (this.onFrame(frame.opcode, frame.data)) return this.pending
    }
  }
}

/** The server frame at `offset` (unmasked, not fragmented: what the gateway sends), if whole. */
function nextFrame (bytes: Buffer, offset: number): { opcode: number, data: Buffer, end: number } | undefined {
  if (bytes.length - offset < 2) return undefined
  const opcode = bytes[offset]! & 0x0f
  let length = bytes[offset + 1]! & 0x7f
  let start = offset + 2
  if (length === 126) {
    if (bytes.length - offset < 4) return undefined
    length = bytes.readUInt16BE(offset + 2)
    start += 2
  } else if (length === 127) {
    if (bytes.length - offset < 10) return undefined
    length = bytes.readUInt32BE(offset + 2) * 2 ** 32 + bytes.readUInt32BE(offset + 6)
    start += 8
  }
  if (bytes.length < start + length) return undefined
  return { opcode, data: bytes.subarray(start, start + length), end: start + length }
}

/** A masked text frame, as a client must send it. */
function clientFrame (message: unknown): Buffer {
  const data = Buffer.from(JSON.stringify(message))
  const extended = data.length < 126 ? 0 : data.length < 65_536 ? 2 : 8
  const frame = Buffer.alloc(2 + extended + 4 + data.length)
  frame[0] = 0x81
  if (extended === 0) frame[1] = 0x80 | data.length
  else if (extended === 2) { frame[1] = 0x80 | 126; frame.writeUInt16BE(data.length, 2) } else { frame[1] = 0x80 | 127; frame.writeBigUInt64BE(BigInt(data.length), 2) }
  const mask = randomBytes(4)
  mask.copy(frame, 2 + extended)
  for (let i = 0; i < data.length; i++) frame[2 + extended + 4 + i] = data[i]! ^ mask[i & 3]!
  return frame
}

export class LeanSubscriber {
  /** Per read once running: when it completed, and the offset in `bytes` at which it ended. */
  private readonly stamps: number[] = []
  private readonly ends: number[] = []
  /**
   * What arrived once running, copied into one buffer per subscriber (grown by doubling): a read
   * allocates nothing, so the client's own garbage collections (a copy per read made 85,000
   * small external buffers per run, and their collections paused the reads up to 10 ms) do
   * not widen the spread it measures.
   */
  private bytes = Buffer.allocUnsafe(64 * 1024)
  private used = 0
  private socket: Socket | undefined
  /** Set by a close frame or a socket error before the end. */
  failure: string | undefined

  /**
   * Connects, acknowledges, subscribes and resolves once the subscribe is sent (the gateway's
   * open-subscriptions metric says when it runs). The id is a random UUID, as graphql-ws makes
   * them: the gateway builds a frame per distinct id, so this is its costlier case.
   */
  async open (url: URL, connectionParams: Record<string, string>, query: string, variables: Record<string, unknown>): Promise<void> {
    await new Promise<void>((resolve, reject) => {
      let running = false
      const fail = (err: Error) => { if (!running) reject(err); else this.failure ??= err.message; this.socket?.destroy() }
      const handshake = new Handshake((opcode, data) => {
        if (opcode === 0x8) { fail(new Error(`closed ${data.length >= 2 ? data.readUInt16BE(0) : ''} ${data.subarray(2).toString()}`)); return false }
        if (opcode !== 0x1 || (JSON.parse(data.toString()) as { type: string }).type !== 'connection_ack') return false
        this.socket!.write(clientFrame({ id: randomUUID(), type: 'subscribe', payload: { query, variables } }))
        running = true
        resolve()
        return true
      }, fail)
      const buffer = Buffer.allocUnsafe(64 * 1024)
      this.socket = connect({
        host: url.hostname,
        port: Number(url.port),
        noDelay: true,
        onread: {
          buffer,
          callback: (bytes: number, buf: Uint8Array): boolean => {
            // the measured path: a stamp and a copy, nothing else
            if (running) {
              this.stamps.push(performance.now())
              this.keep(buf, bytes)
            } else {
              const rest = handshake.read(Buffer.copyBytesFrom(buf, 0, bytes))
              if (rest !== undefined && rest.length > 0) {
                this.stamps.push(performance.now())
                this.keep(rest, rest.length)
              }
            }
            return true
          }
        }
      })
      this.socket.on('error', fail)
      this.socket.on('close', () => { if (running) this.failure ??= 'the connection closed' })
      this.socket.on('connect', () => {
        this.socket!.write(`GET ${url.pathname} HTTP/1.1\r\nHost: ${url.host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
          `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: graphql-transport-ws\r\n\r\n`)
        this.socket!.write(clientFrame({ type: 'connection_init', payload: connectionParams }))
      })
    })
  }

  private keep (buf: Uint8Array, length: number): void {
    if (this.used + length > this.bytes.length) {
      const grown = Buffer.allocUnsafe(Math.max(2 * this.bytes.length, this.used + length))
      this.bytes.copy(grown, 0, 0, this.used)
      this.bytes = grown
    }
    this.bytes.set(buf.subarray(0, length), this.used)
    this.used += length
    this.ends.push(this.used)
  }

  /** Reads already looked at by `lastMessageHas`. */
  private checked = 0

  /**
   * Whether the last message received contains one of `texts` (looked for in the newest read
   * and the end of the one before, only when something arrived since the last call).
   */
  lastMessageHas (texts: string[]): boolean {
    const reads = this.ends.length
    if (reads === this.checked) return false
    this.checked = reads
    // the newest read, and the end of the one before it
    const lastStart = reads > 1 ? this.ends[reads - 2]! : 0
    return texts.some((text) => this.bytes.subarray(Math.max(0, lastStart - text.length), this.used).includes(text))
  }

  /** The messages received while running, each with the stamp of the read that completed it. */
  received (): Received[] {
    const all = this.bytes.subarray(0, this.used)
    // the offset at which each read ended
    const ends = this.ends
    const out: Received[] = []
    let read = 0
    for (let offset = 0; ;) {
      const frame = nextFrame(all, offset)
      if (frame === undefined) break
      offset = frame.end
      while (ends[read]! < frame.end) read++
      if (frame.opcode === 0x8) { this.failure ??= `closed ${frame.data.length >= 2 ? frame.data.readUInt16BE(0) : ''} ${frame.data.subarray(2).toString()}`; break }
      if (frame.opcode !== 0x1) continue
      out.push({ at: this.stamps[read]!, message: JSON.parse(frame.data.toString()) })
    }
    return out
  }

  close (): void {
    this.socket?.removeAllListeners('close')
    this.socket?.destroy()
  }
}
