// A key generated into DATA_DIR on first start: written to a temporary file, then linked into
// place, so concurrent first starts (several processes on one DATA_DIR) agree on one key.
import { randomBytes } from 'node:crypto'
import { link, mkdir, readFile, unlink, writeFile } from 'node:fs/promises'
import { basename, dirname, join } from 'node:path'

/**
 * Creates `file` (mode 0600) holding `text` unless it exists; answers `value`, or what
 * `readWinner` reads when another process linked its file first.
 */
export async function createKeyFileOnce<T> (file: string, text: string, value: T, readWinner: (file: string) => Promise<T | undefined>): Promise<T> {
  const dir = dirname(file)
  await mkdir(dir, { recursive: true })
  const tmp = join(dir, `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}`)
  await writeFile(tmp, text, { mode: 0o600, flag: 'wx' })
  try {
    await link(tmp, file)
    return value
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err
    const winner = await readWinner(file)
    if (winner === undefined) throw err
    return winner
  } finally {
    await unlink(tmp).catch(() => {})
  }
}

/** A key file's text, or undefined when there is none yet. */
export async function readKeyFileText (file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8')
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}
