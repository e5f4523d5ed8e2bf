// Secrets at rest (upstream tokens, webhook secrets): AES-256-GCM with a random 96-bit IV per
// message, stored as base64 of iv | tag | ciphertext. GCM's tag makes any change to the
// stored value (or a wrong key) fail loudly instead of decrypting to garbage.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto'

const ALGORITHM = 'aes-256-gcm'
const IV_BYTES = 12
const TAG_BYTES = 16
export const KEY_BYTES = 32

function checkKey (key: Buffer): void {
  if (key.length !== KEY_BYTES) throw new Error(`An AES-256-GCM key has ${KEY_BYTES} bytes, not ${key.length}`)
}

export function encrypt (key: Buffer, plaintext: string): string {
  checkKey(key)
  const iv = randomBytes(IV_BYTES)
  const cipher = createCipheriv(ALGORITHM, key, iv)
  const ciphertext = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()])
  return Buffer.concat([iv, cipher.getAuthTag(), ciphertext]).toString('base64')
}

/** Throws when the value was altered or encrypted with another key. */
export function decrypt (key: Buffer, encrypted: string): string {
  checkKey(key)
  const data = Buffer.from(encrypted, 'base64')
  if (data.length < IV_BYTES + TAG_BYTES) throw new Error('Encrypted value is too short')
  const decipher = createDecipheriv(ALGORITHM, key, data.subarray(0, IV_BYTES), { authTagLength: TAG_BYTES })
  decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES))
  try {
    return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8')
  } catch (err) {
    throw new Error('Encrypted value failed authentication (tampered, or another ENCRYPTION_KEY)', { cause: err })
  }
}

export function sha256Hex (s: string | Buffer): string {
  return createHash('sha256').update(s).digest('hex')
}

/**
 * A name for a key that reveals nothing of it: an HMAC of a fixed text under the key. Backups
 * record it, so a restore under another key is refused before anything is written.
 */
export function keyId (key: Buffer): string {
  checkKey(key)
  return createHmac('sha256', key).update('nemo-gateway encryption key id').digest('hex').slice(0, 16)
}
