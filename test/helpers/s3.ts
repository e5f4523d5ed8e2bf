// An S3-compatible server inside the test: s3rver (a Node implementation of the S3 HTTP API,
// multipart uploads included) on a free port, storing into a temporary folder removed at the
// end, with one bucket; and an SDK client that reads it directly, to check what the gateway wrote.
import type { Test } from 'tap'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import S3rver from 's3rver'
import { HeadObjectCommand, GetObjectCommand, S3Client } from '@aws-sdk/client-s3'

export interface RunningS3 {
  endpoint: string
  bucket: string
  /** The gateway's S3_* settings for this server. */
  config: Record<string, string>
  /** An object's size, or null when there is none. */
  size: (key: string) => Promise<number | null>
  read: (key: string) => Promise<Buffer>
}

// s3rver checks request signatures against its one built-in key pair
const KEY = 'S3RVER'

export async function startS3 (t: Test, bucket = 'gateway-outputs'): Promise<RunningS3> {
  const directory = await mkdtemp(join(tmpdir(), 'gw-test-s3-'))
  const server = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory, configureBuckets: [{ name: bucket, configs: [] }] })
  const { port } = await server.run() as { port: number }
  const endpoint = `http://127.0.0.1:${port}`
  const client = new S3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials: { accessKeyId: KEY, secretAccessKey: KEY } })
  t.teardown(async () => {
    client.destroy()
    await server.close()
    await rm(directory, { recursive: true, force: true })
  })
  return {
    endpoint,
    bucket,
    config: { OUTPUT_STORAGE: 's3', S3_ENDPOINT: endpoint, S3_BUCKET: bucket, S3_ACCESS_KEY_ID: KEY, S3_SECRET_ACCESS_KEY: KEY },
    size: async (key) => {
      try {
        return (await client.send(new HeadObjectCommand({ Bucket: bucket, Key: key }))).ContentLength ?? null
      } catch (err) {
        if ((err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode === 404) return null
        throw err
      }
    },
    read: async (key) => Buffer.from(await (await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray())
  }
}
