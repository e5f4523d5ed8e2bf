import t from 'tap'
import { randomBytes } from 'node:crypto'
import { mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { decrypt, encrypt, sha256Hex } from '../../src/db/crypto.ts'
import { KEY_FILE, loadEncryptionKey, parseEncryptionKey } from '../../src/db/encryption-key.ts'
import type { Log } from '../../src/db/log.ts'

const key = randomBytes(32)

t.test('encrypt / decrypt round trip, with a fresh IV each time', async (t) => {
  for (const text of ['', 'token-abc', 'ünïcødé ✓ 漢字', 'x'.repeat(100_000)]) {
    t.equal(decrypt(key, encrypt(key, text)), text)
  }
  const a = encrypt(key, 'same')
  const b = encrypt(key, 'same')
  t.not(a, b, 'the same plaintext never encrypts the same way twice')
  t.notMatch(a, /same/)
})

t.test('any change to the stored value, or another key, is detected', async (t) => {
  const stored = encrypt(key, 'upstream token')
  const bytes = Buffer.from(stored, 'base64')
  for (const at of [0, 12, 28, bytes.length - 1]) { // iv, tag, ciphertext, last byte
    const tampered = Buffer.from(bytes)
    tampered[at] = (tampered[at] ?? 0) ^ 0x01
    t.throws(() => decrypt(key, tampered.toString('base64')), /failed authentication/, `byte ${at} flipped`)
  }
  t.throws(() => decrypt(randomBytes(32), stored), /failed authentication/, 'another key')
  t.throws(() => decrypt(key, bytes.subarray(0, 20).toString('base64')), /too short/)
  t.throws(() => encrypt(randomBytes(16), 'x'), /32 bytes/)
})

t.test('sha256Hex', async (t) => {
  t.equal(sha256Hex('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
})

t.test('ENCRYPTION_KEY as 64 hex chars or base64 of 32 bytes; anything else names the variable', async (t) => {
  t.same(parseEncryptionKey(key.toString('hex')), key)
  t.same(parseEncryptionKey(key.toString('base64')), key)
  t.same(parseEncryptionKey(key.toString('base64url')), key)
  t.same(parseEncryptionKey(` ${key.toString('hex')}\n`), key)
  for (const bad of ['short', randomBytes(16).toString('hex'), randomBytes(31).toString('base64'), 'z'.repeat(64), key.toString('hex') + 'ab']) {
    t.throws(() => parseEncryptionKey(bad), /ENCRYPTION_KEY must be 32 bytes/, JSON.stringify(bad))
  }
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-key-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  t.same(await loadEncryptionKey({ configured: key.toString('hex'), dataDir }), key)
  await t.rejects(loadEncryptionKey({ configured: 'not a key at all, not a key at all', dataDir }), /ENCRYPTION_KEY/)
})

t.test('without ENCRYPTION_KEY: generated once into DATA_DIR with mode 0600, then reused', async (t) => {
  const base = await mkdtemp(join(tmpdir(), 'gw-key-'))
  t.teardown(() => rm(base, { recursive: true, force: true }))
  const dataDir = join(base, 'nested', 'data')
  const warnings: string[] = []
  const log: Log = { info () {}, debug () {}, warn: (m) => { warnings.push(m) } }

  const first = await loadEncryptionKey({ dataDir, log })
  t.equal(first.length, 32)
  const file = join(dataDir, KEY_FILE)
  t.equal((await stat(file)).mode & 0o777, 0o600, 'only the owner can read the key')
  t.same(parseEncryptionKey(await readFile(file, 'utf8')), first, 'stored as hex, usable as ENCRYPTION_KEY')
  t.equal(warnings.length, 1, 'one warning')
  t.match(warnings[0], /ENCRYPTION_KEY is not set/)
  t.notMatch(warnings[0], new RegExp(first.toString('hex')), 'the warning does not print the key')

  const second = await loadEncryptionKey({ dataDir, log })
  t.same(second, first, 'the same key on the next start')
  t.equal(warnings.length, 2, 'one warning per start')
})

t.test('instances starting at once agree on one key', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-key-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  const keys = await Promise.all(Array.from({ length: 8 }, () => loadEncryptionKey({ dataDir })))
  t.equal(new Set(keys.map((k) => k.toString('hex'))).size, 1)
})

t.test('a damaged key file is an error, not a silently new key', async (t) => {
  const dataDir = await mkdtemp(join(tmpdir(), 'gw-key-'))
  t.teardown(() => rm(dataDir, { recursive: true, force: true }))
  await writeFile(join(dataDir, KEY_FILE), 'garbage\n')
  await t.rejects(loadEncryptionKey({ dataDir }), /encryption\.key must be 32 bytes/)
})
