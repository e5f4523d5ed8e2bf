// The backup file: one gzip stream of frames, each a kind byte, a 4-byte big-endian length and
// that many bytes. It starts with a magic line, then:
//   H  the header (JSON): format version, the migrations applied, the tables in load order
//   T  a table begins (JSON: name, columns); D frames follow with its COPY text, then
//   E  the table ends (JSON: rows copied)
//   M  the manifest (JSON): the header again with every table's row count, last
// A reader and a writer both stream: a table of any size passes through in COPY-sized pieces.
import { createReadStream, createWriteStream } from 'node:fs'
import { once } from 'node:events'
import { PassThrough, type Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import { createGunzip, createGzip } from 'node:zlib'
import { gwError } from '../errors.ts'

const BACKUP_MAGIC = 'NEMO-GATEWAY-BACKUP\n'
export const BACKUP_FORMAT_VERSION = 1

export interface BackupTable {
  name: string
  columns: string[]
}

export interface BackupHeader {
  format: 'nemo-gateway-backup'
  formatVersion: number
  gatewayVersion: string
  createdAt: string
  /** Prisma migrations applied to the database, oldest first: the schema version of the data. */
  migrations: Array<{ name: string, checksum: string }>
  /** Tables in the order they are written and loaded (parents before children). */
  tables: BackupTable[]
  /**
   * Which key encrypted the secrets in the data (an HMAC of a fixed text under that key; it
   * tells keys apart and reveals nothing of them). The key itself is never in a backup.
   */
  encryptionKeyId: string
}

export interface BackupManifest extends BackupHeader {
  rows: Record<string, number>
}

export type Frame =
  | { kind: 'H', header: BackupHeader }
  | { kind: 'T', table: BackupTable }
  | { kind: 'D', data: Buffer }
  | { kind: 'E', rows: number }
  | { kind: 'M', manifest: BackupManifest }

const JSON_KINDS = new Set(['H', 'T', 'E', 'M'])
/** A frame longer than this is not one the writer makes: the file is damaged. */
const MAX_FRAME = 64 * 1024 * 1024

export interface FrameWriter {
  write: (frame: Frame) => Promise<void>
  /** Ends the file and waits until it is on disk. */
  close: () => Promise<void>
}

export function openFrameWriter (file: string): FrameWriter {
  const frames = new PassThrough()
  const done = pipeline(frames, createGzip(), createWriteStream(file, { flags: 'wx', mode: 0o600 }))
  // a failed file (disk full) surfaces at the next write or at close, not as an unhandled rejection
  let failed: Error | undefined
  done.catch((err: Error) => { failed = err })
  const put = async (chunk: Buffer) => {
    if (failed) throw failed
    if (!frames.write(chunk)) await Promise.race([once(frames, 'drain'), done])
  }
  frames.write(BACKUP_MAGIC)
  return {
    async write (frame) {
      const body = frame.kind === 'D' ? frame.data : Buffer.from(JSON.stringify(payloadOf(frame)))
      const head = Buffer.alloc(5)
      head.write(frame.kind, 0, 'latin1')
      head.writeUInt32BE(body.length, 1)
      await put(head)
      await put(body)
    },
    async close () {
      frames.end()
      await done
    }
  }
}

function payloadOf (frame: Exclude<Frame, { kind: 'D' }>): unknown {
  switch (frame.kind) {
    case 'H': return frame.header
    case 'T': return frame.table
    case 'E': return { rows: frame.rows }
    case 'M': return frame.manifest
  }
}

const damaged = (file: string, what: string) => gwError('GW_ERR_VALIDATION', `${file} is not a readable gateway backup (${what})`)

/** The frames of a backup file, in order, read as they are needed. */
export async function * readFrames (file: string): AsyncGenerator<Frame> {
  const raw = createReadStream(file)
  const source: Readable = raw.pipe(createGunzip())
  raw.on('error', (err) => source.destroy(err))
  let buffered: Buffer = Buffer.alloc(0)
  let magicSeen = false
  try {
    for await (const chunk of source) {
      buffered = buffered.length === 0 ? chunk as Buffer : Buffer.concat([buffered, chunk as Buffer])
      if (!magicSeen) {
        if (buffered.length < BACKUP_MAGIC.length) continue
        if (buffered.subarray(0, BACKUP_MAGIC.length).toString('latin1') !== BACKUP_MAGIC) throw damaged(file, 'no backup header')
        buffered = buffered.subarray(BACKUP_MAGIC.length)
        magicSeen = true
      }
      while (buffered.length >= 5) {
        const kind = buffered.toString('latin1', 0, 1)
        const length = buffered.readUInt32BE(1)
        if (length > MAX_FRAME || (kind !== 'D' && !JSON_KINDS.has(kind))) throw damaged(file, 'a broken frame')
        if (buffered.length < 5 + length) break
        const body = buffered.subarray(5, 5 + length)
        buffered = buffered.subarray(5 + length)
        yield parseFrame(file, kind, body)
      }
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    if (code === 'Z_DATA_ERROR' || code === 'Z_BUF_ERROR') throw damaged(file, 'not gzip, or cut short')
    if (code === 'ENOENT') throw gwError('GW_ERR_NOT_FOUND', `no backup file ${file}`)
    throw err
  } finally {
    source.destroy()
  }
  if (!magicSeen || buffered.length > 0) throw damaged(file, 'cut short')
}

function parseFrame (file: string, kind: string, body: Buffer): Frame {
  if (kind === 'D') return { kind, data: Buffer.from(body) }
  let value: unknown
  try {
    value = JSON.parse(body.toString('utf8'))
  } catch {
    throw damaged(file, 'a broken frame')
  }
  switch (kind) {
    case 'H': return { kind, header: value as BackupHeader }
    case 'T': return { kind, table: value as BackupTable }
    case 'E': return { kind, rows: (value as { rows: number }).rows }
    default: return { kind: 'M', manifest: value as BackupManifest }
  }
}
