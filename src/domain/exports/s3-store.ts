// The S3 store: any S3-compatible bucket (AWS, MinIO, R2, Ceph), through the AWS SDK v3. A copy
// is a multipart upload (lib-storage) of 8 MiB parts, two in flight, so memory stays bounded
// whatever the file's size; the object appears only when the upload completes. An upload cut
// short is aborted; one cut by a crash is left incomplete, invisible, and is best cleaned by the
// bucket's lifecycle rule for incomplete multipart uploads.
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, S3Client } from '@aws-sdk/client-s3'
import { Upload } from '@aws-sdk/lib-storage'
import { PassThrough, type Readable } from 'node:stream'
import type { Config } from '../../config.ts'
import { Measure, type ByteRange, type OutputStore, type StoredFile } from './output-store.ts'

const PART_SIZE = 8 * 1024 * 1024
const PARTS_IN_FLIGHT = 2

export class S3Store implements OutputStore {
  readonly kind = 's3' as const
  private readonly client: S3Client
  private readonly bucket: string
  private readonly prefix: string

  constructor (config: Config) {
    this.bucket = config.S3_BUCKET!
    this.prefix = config.S3_PREFIX
    this.client = new S3Client({
      region: config.S3_REGION,
      forcePathStyle: config.S3_FORCE_PATH_STYLE,
      ...(config.S3_ENDPOINT === undefined ? {} : { endpoint: config.S3_ENDPOINT }),
      ...(config.S3_ACCESS_KEY_ID === undefined
        ? {}
        : { credentials: { accessKeyId: config.S3_ACCESS_KEY_ID, secretAccessKey: config.S3_SECRET_ACCESS_KEY! } })
    })
  }

  async put (key: string, source: Readable, opts: { expectedSize?: number, contentType: string, signal?: AbortSignal }): Promise<StoredFile> {
    const measure = new Measure(opts.expectedSize)
    const body = new PassThrough({ highWaterMark: 1024 * 1024 })
    const upload = new Upload({
      client: this.client,
      params: { Bucket: this.bucket, Key: this.prefix + key, Body: body, ContentType: opts.contentType },
      partSize: PART_SIZE,
      queueSize: PARTS_IN_FLIGHT,
      leavePartsOnError: false
    })
    const abort = () => { upload.abort().catch(() => {}) }
    opts.signal?.addEventListener('abort', abort, { once: true })
    // a bad source (short, long, broken) must fail the upload, not end it: the error reaches
    // lib-storage through the body stream before it could complete the object
    source.on('error', (err) => body.destroy(err))
    measure.on('error', (err) => body.destroy(err))
    source.pipe(measure).pipe(body)
    try {
      await upload.done()
    } catch (err) {
      source.destroy()
      throw measure.errored ?? source.errored ?? err
    } finally {
      opts.signal?.removeEventListener('abort', abort)
    }
    return { size: measure.size, sha256: measure.sha256 }
  }

  async open (key: string, range?: ByteRange): Promise<Readable> {
    const out = await this.client.send(new GetObjectCommand({
      Bucket: this.bucket,
      Key: this.prefix + key,
      ...(range === undefined ? {} : { Range: `bytes=${range.start}-${range.end}` })
    }))
    return out.Body as Readable
  }

  async stat (key: string): Promise<number | null> {
    try {
      const head = await this.client.send(new HeadObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }))
      return head.ContentLength ?? null
    } catch (err) {
      if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null
      throw err
    }
  }

  async remove (key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.prefix + key }))
  }
}
