// The key for secrets at rest. ENCRYPTION_KEY (64 hex chars, or base64 of 32 bytes) when set;
// otherwise a random key generated once into <DATA_DIR>/encryption.key (mode 0600) and reused,
// which suits one instance with its own DATA_DIR. Instances sharing a database must share a key,
// hence the warning.
import { randomBytes } from 'node:crypto'
import { join, resolve } from 'node:path'
import { KEY_BYTES } from './crypto.ts'
import { createKeyFileOnce, readKeyFileText } from './key-file.ts'
import { silentLog, type Log } from './log.ts'

export const KEY_FILE = 'encryption.key'

/** 32 bytes from 64 hex chars or base64 (standard or url-safe); anything else throws naming `source`. */
export function parseEncryptionKey (value: string, source = 'ENCRYPTION_KEY'): Buffer {
  const text = value.trim()
  if (/^[0-9a-fA-F]{64}$/.test(text)) return Buffer.from(text, 'hex')
  if (/^[A-Za-z0-9+/_-]+={0,2}$/.test(text)) {
    const key = Buffer.from(text, 'base64')
    if (key.length === KEY_BYTES) return key
  }
  throw new Error(`${source} must be ${KEY_BYTES} bytes written as 64 hex characters or as base64`)
}

export interface EncryptionKeyOptions {
  /** The ENCRYPTION_KEY setting, if any. */
  configured?: string
  dataDir: string
  log?: Log
}

export async function loadEncryptionKey (options: EncryptionKeyOptions): Promise<Buffer> {
  if (options.configured !== undefined) return parseEncryptionKey(options.configured)
  const log = options.log ?? silentLog
  const dir = resolve(options.dataDir)
  const file = join(dir, KEY_FILE)
  let key = await readKeyFile(file)
  if (key === undefined) {
    key = await createKeyFile(file)
    log.warn(`ENCRYPTION_KEY is not set: generated a new key into ${file}; set ENCRYPTION_KEY (the same for every instance sharing the database) and keep it safe`)
  } else {
    log.warn(`ENCRYPTION_KEY is not set: using the key in ${file}; instances sharing the database must all use this key`)
  }
  return key
}

/** The key as loadEncryptionKey would find it, without ever creating one (undefined: none yet). */
export async function findEncryptionKey (options: EncryptionKeyOptions): Promise<Buffer | undefined> {
  if (options.configured !== undefined) return parseEncryptionKey(options.configured)
  return await readKeyFile(join(resolve(options.dataDir), KEY_FILE))
}

async function readKeyFile (file: string): Promise<Buffer | undefined> {
  const text = await readKeyFileText(file)
  if (text === undefined) return undefined
  return parseEncryptionKey(text, file)
}

/** Written to a temporary file, then linked into place: concurrent starts agree on one key. */
async function createKeyFile (file: string): Promise<Buffer> {
  const key = randomBytes(KEY_BYTES)
  return await createKeyFileOnce(file, `${key.toString('hex')}\n`, key, readKeyFile)
}
