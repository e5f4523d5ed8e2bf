// One file on its way upstream, checked in passing: its first bytes are held back until they
// show the file is what its extension says, every byte is hashed (sha256) and counted, and
// one byte past the limit fails the stream, which aborts the upstream request it feeds.
import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'
import { gwError } from '../../errors.ts'
import { checkSignature, SNIFF_BYTES, type MediaType } from './media-types.ts'

export interface UploadMeterOptions {
  filename: string
  type: MediaType
  maxBytes: number
  /** Called on every chunk with the bytes so far, and once more with `done` at the end. */
  onProgress?: (bytes: number, done: boolean) => void
}

// Large enough that a 500 MB file is a few thousand chunks, small enough to stay flat in memory.
const HIGH_WATER_MARK = 1024 * 1024

function formatBytes (n: number): string {
  if (n >= 1024 * 1024) return `${+(n / (1024 * 1024)).toFixed(1)} MiB`
  if (n >= 1024) return `${+(n / 1024).toFixed(1)} KiB`
  return `${n} bytes`
}

export class UploadMeter extends Transform {
  bytes = 0
  /** Set when the whole file has passed. */
  sha256: string | undefined
  /**
   * Settles once the leading bytes are judged: resolves when the type fits, rejects with the
   * 415, or with whatever ended the stream before the judgement.
   */
  readonly checked: Promise<void>
  private settle!: (err?: Error) => void
  private head: Buffer[] | null = []
  private headBytes = 0
  private readonly hash = createHash('sha256')

  constructor (private readonly opts: UploadMeterOptions) {
    super({ highWaterMark: HIGH_WATER_MARK })
    this.checked = new Promise<void>((resolve, reject) => {
      let settled = false
      this.settle = (err) => {
        if (settled) return
        settled = true
        if (err === undefined) resolve()
        else reject(err)
      }
    })
    // the owner awaits it; a stream torn down before anyone does must not be an unhandled rejection
    this.checked.catch(() => {})
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, cb: TransformCallback): void {
    this.bytes += chunk.length
    if (this.bytes > this.opts.maxBytes) {
      cb(gwError('GW_ERR_PAYLOAD_TOO_LARGE', `${this.opts.filename} is larger than the limit of ${formatBytes(this.opts.maxBytes)}`, {
        extensions: { filename: this.opts.filename, limit: this.opts.maxBytes }
      }))
      return
    }
    this.hash.update(chunk)
    if (this.head === null) {
      this.push(chunk)
    } else {
      this.head.push(chunk)
      this.headBytes += chunk.length
      if (this.headBytes < SNIFF_BYTES) {
        cb()
        return
      }
      const err = this.judge()
      if (err !== null) {
        cb(err)
        return
      }
    }
    this.opts.onProgress?.(this.bytes, false)
    cb()
  }

  override _flush (cb: TransformCallback): void {
    if (this.head !== null) {
      const err = this.judge()
      if (err !== null) {
        cb(err)
        return
      }
    }
    this.sha256 = this.hash.digest('hex')
    this.opts.onProgress?.(this.bytes, true)
    cb()
  }

  override _destroy (err: Error | null, cb: (error?: Error | null) => void): void {
    this.settle(err ?? new Error('the upload stream closed before its type was checked'))
    cb(err)
  }

  private judge (): Error | null {
    const head = Buffer.concat(this.head ?? [])
    this.head = null
    try {
      checkSignature(this.opts.filename, this.opts.type, head.subarray(0, SNIFF_BYTES))
    } catch (err) {
      this.settle(err as Error)
      return err as Error
    }
    this.settle()
    if (head.length > 0) this.push(head)
    return null
  }
}

const QUEUE_CHUNKS = 16

/**
 * A byte stream's chunks one by one, as they were pushed. The stream's own async iterator
 * reads in paused mode, which concatenates whatever is buffered into a new Buffer: a copy of
 * every byte and a large allocation per read. Flowing mode hands chunks over as they are;
 * pause/resume keeps the backpressure.
 */
export async function * chunksOf (stream: Readable): AsyncGenerator<Buffer> {
  const queue: Buffer[] = []
  let ended = false
  let failure: Error | undefined
  let wake: (() => void) | undefined
  const notify = (): void => {
    const w = wake
    wake = undefined
    w?.()
  }
  const onData = (chunk: Buffer): void => {
    queue.push(chunk)
    if (queue.length >= QUEUE_CHUNKS) stream.pause()
    notify()
  }
  const onEnd = (): void => { ended = true; notify() }
  const onError = (err: Error): void => { failure ??= err; notify() }
  const onClose = (): void => { if (!ended) failure ??= new Error('the stream closed before its end'); notify() }
  stream.on('data', onData)
  stream.on('end', onEnd)
  stream.on('error', onError)
  stream.on('close', onClose)
  try {
    for (;;) {
      const chunk = queue.shift()
      if (chunk !== undefined) {
        if (queue.length < QUEUE_CHUNKS / 2 && stream.isPaused()) stream.resume()
        yield chunk
        continue
      }
      if (failure !== undefined) throw failure
      if (ended) return
      await new Promise<void>((resolve) => { wake = resolve })
    }
  } finally {
    stream.off('data', onData)
    stream.off('end', onEnd)
    stream.off('error', onError)
    stream.off('close', onClose)
    if (!ended) stream.destroy()
  }
}
