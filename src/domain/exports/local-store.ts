// The local store: one file per object under a folder (OUTPUT_DIR, by default DATA_DIR/outputs).
// A copy is written to `.partial/` first, flushed to disk, and renamed into place: rename is
// atomic on one file system, so a crash leaves either no file or the whole one. A partial file
// left by a crashed copy is removed when that object is copied again.
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, readdir, rename, rm, stat } from 'node:fs/promises'
import { randomBytes } from 'node:crypto'
import { dirname, join, resolve, sep } from 'node:path'
import { pipeline } from 'node:stream/promises'
import type { Readable } from 'node:stream'
import { Measure, type ByteRange, type OutputStore, type StoredFile } from './output-store.ts'

const PARTIAL = '.partial'

export class LocalStore implements OutputStore {
  readonly kind = 'local' as const
  private readonly root: string

  constructor (root: string) {
    this.root = resolve(root)
  }

  async put (key: string, source: Readable, opts: { expectedSize?: number, signal?: AbortSignal }): Promise<StoredFile> {
    const path = this.pathOf(key)
    const partials = join(this.root, PARTIAL)
    await mkdir(partials, { recursive: true })
    await mkdir(dirname(path), { recursive: true })
    const stem = partialStem(key)
    await this.dropPartials(stem)
    const temp = join(partials, `${stem}${randomBytes(6).toString('hex')}.part`)
    const measure = new Measure(opts.expectedSize)
    try {
      // flush: the data is on disk before the rename makes the file visible
      await pipeline(source, measure, createWriteStream(temp, { flush: true }), opts.signal === undefined ? {} : { signal: opts.signal })
      await rename(temp, path)
    } catch (err) {
      await rm(temp, { force: true })
      throw err
    }
    return { size: measure.size, sha256: measure.sha256 }
  }

  async open (key: string, range?: ByteRange): Promise<Readable> {
    const path = this.pathOf(key)
    // opened before it is handed over: a missing file is an error here, not mid-response
    await stat(path)
    return createReadStream(path, range === undefined ? {} : { start: range.start, end: range.end })
  }

  async stat (key: string): Promise<number | null> {
    try {
      return (await stat(this.pathOf(key))).size
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null
      throw err
    }
  }

  async remove (key: string): Promise<void> {
    await rm(this.pathOf(key), { force: true })
  }

  /** Partial files of earlier copies of the same object (a crashed instance's). */
  private async dropPartials (stem: string): Promise<void> {
    const names = await readdir(join(this.root, PARTIAL)).catch(() => [] as string[])
    for (const name of names) if (name.startsWith(stem)) await rm(join(this.root, PARTIAL, name), { force: true })
  }

  private pathOf (key: string): string {
    const path = resolve(this.root, key)
    // keys are the gateway's own (tenant/export ids), but a path never leaves the folder
    if (!path.startsWith(this.root + sep) || key.split('/').includes(PARTIAL)) throw new Error(`invalid object key ${key}`)
    return path
  }
}

function partialStem (key: string): string {
  return key.replace(/[^\w.-]/g, '_') + '.'
}
