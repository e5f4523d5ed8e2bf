// A subscription event goes to many sockets as the same bytes: the WebSocket frame (header and
// message) is built once per event and id, and each socket gets one write of that buffer.
// Through ws' `send` (8.x) every socket paid for its own header buffer, an options object, a
// cork, two writes and a writev, per event: a third of the gateway's time per socket besides
// the write syscall itself (CPU profile of bench/streams/subscribers.ts, 1,000 sockets).
// ws has no public way to write bytes that are already framed, so `directStream` hands out the
// WebSocket's TCP socket (`_socket`) when that is what `send` would write to anyway: a server
// socket (its frames are not masked) without extensions (permessage-deflate would compress
// and set RSV1); `senderIdle` says, before each write, that nothing of ws' own is queued
// (`_sender`: a deflate or a Blob in progress). Otherwise, or with a ws whose fields have
// changed, the frame's message goes through `send` as before.
import { Duplex } from 'node:stream'

const OPCODE_TEXT_FINAL = 0x81

/** The frame of the text message made of `parts` (UTF-8), in one buffer. */
export function textFrame (...parts: Uint8Array[]): Buffer {
  let length = 0
  for (const part of parts) length += part.length
  const headerBytes = length < 126 ? 2 : length < 65_536 ? 4 : 10
  const frame = Buffer.allocUnsafe(headerBytes + length)
  frame[0] = OPCODE_TEXT_FINAL
  if (headerBytes === 2) {
    frame[1] = length
  } else if (headerBytes === 4) {
    frame[1] = 126
    frame.writeUInt16BE(length, 2)
  } else {
    frame[1] = 127
    frame.writeUInt32BE(Math.floor(length / 2 ** 32), 2)
    frame.writeUInt32BE(length >>> 0, 6)
  }
  let offset = headerBytes
  for (const part of parts) {
    frame.set(part, offset)
    offset += part.length
  }
  return frame
}

/** The message of a frame built by `textFrame` (a view, not a copy). */
export function frameMessage (frame: Buffer): Buffer {
  const length = frame[1]!
  return frame.subarray(length < 126 ? 2 : length === 126 ? 4 : 10)
}

/** What is read of a `ws` WebSocket (8.x); the underscored fields are its own. */
export interface FramedSocket {
  readyState: number
  bufferedAmount: number
  extensions: string
  send: (data: Buffer, options: { binary: boolean }, cb: (err?: Error | null) => void) => void
  close: (code?: number, reason?: string) => void
  _isServer?: unknown
  _socket?: unknown
  _sender?: { _state?: unknown, _queue?: unknown } | null
}

/**
 * The stream under an open WebSocket that prebuilt frames may be written to, or undefined when
 * they must go through `send`. Fixed once the handshake is done. An error writing to it closes
 * the WebSocket as an error in `send` does (ws listens to its socket's errors).
 */
export function directStream (socket: FramedSocket): Duplex | undefined {
  const raw = socket._socket
  return socket._isServer === true && socket.extensions === '' && raw instanceof Duplex ? raw : undefined
}

/** Nothing of ws' own waits to be written: a frame written now goes out in order. */
export function senderIdle (socket: FramedSocket): boolean {
  const sender = socket._sender
  return sender != null && sender._state === 0 && Array.isArray(sender._queue) && sender._queue.length === 0
}
