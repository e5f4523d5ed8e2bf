// Where the gateway keeps its own copy of a rendered MP4: a small interface with two backends,
// a folder on local disk (local-store.ts) and an S3-compatible bucket (s3-store.ts). Both take
// the file as a stream and make it appear whole or not at all (a temp file renamed into place;
// a multipart upload completed at the end), so a crash never leaves half a file that looks
// archived. The sha256 and the size are computed on the way through, and a stream shorter or
// longer than the upstream's Content-Length fails before anything is committed.
import { createHash } from 'node:crypto'
import { Transform, type Readable, type TransformCallback } from 'node:stream'

export interface StoredFile {
  size: number
  sha256: string
}

/** Inclusive byte positions, as in a Range header. */
export interface ByteRange {
  start: number
  end: number
}

export interface OutputStore {
  readonly kind: 'local' | 's3'
  /**
   * Streams `source` into `key`. The object exists only once all of it has been written and its
   * size matched `expectedSize` (when given); a failure leaves no object and nothing half-written.
   */
  put: (key: string, source: Readable, opts: { expectedSize?: number, contentType: string, signal?: AbortSignal }) => Promise<StoredFile>
  /** The object's bytes (a part of them with `range`); the stream errors if the object is gone. */
  open: (key: string, range?: ByteRange) => Promise<Readable>
  /** Its size, or null when there is no such object. */
  stat: (key: string) => Promise<number | null>
  /** Removes the object; removing one that is not there is not an error. */
  remove: (key: string) => Promise<void>
}

/** The file did not arrive as the upstream announced it. */
class CopyMismatch extends Error {}

/** A pass-through that hashes and counts, and fails at the end when the count is not `expected`. */
export class Measure extends Transform {
  private readonly hash = createHash('sha256')
  size = 0
  sha256 = ''

  constructor (private readonly expected?: number) {
    super()
  }

  override _transform (chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.hash.update(chunk)
    this.size += chunk.length
    if (this.expected !== undefined && this.size > this.expected) {
      done(new CopyMismatch(`the upstream sent more than the ${this.expected} bytes it announced`))
      return
    }
    done(null, chunk)
  }

  override _flush (done: TransformCallback): void {
    if (this.expected !== undefined && this.size !== this.expected) {
      done(new CopyMismatch(`the upstream sent ${this.size} of the ${this.expected} bytes it announced`))
      return
    }
    this.sha256 = this.hash.digest('hex')
    done()
  }
}
