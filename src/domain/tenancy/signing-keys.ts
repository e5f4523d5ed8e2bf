// The gateway's own token signing keys (Ed25519, JWS alg EdDSA), for every short-lived token
// it hands out: client tokens today, other single-purpose links later. Each purpose has its
// own audience, so a token made for one is refused by the other.
// TOKEN_SIGNING_KEY (a private JWK) when set, with TOKEN_SIGNING_KEYS_RETIRED (public JWKs)
// still accepted while their tokens live; otherwise the keys live in
// <DATA_DIR>/signing-keys.json (mode 0600), generated on first start. `rotate` adds a new
// current key there; a retired key stays in the JWKS (and verifies) for MAX_TOKEN_TTL_S more,
// the longest any token it signed can live. Every key is named by its RFC 7638 thumbprint (kid).
import { randomBytes, randomUUID } from 'node:crypto'
import { rename, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import {
  calculateJwkThumbprint, createLocalJWKSet, exportJWK, generateKeyPair, importJWK, jwtVerify, SignJWT,
  type JWK, type JWTPayload
} from 'jose'
import { gwError } from '../../errors.ts'
import { createKeyFileOnce, readKeyFileText } from '../../db/key-file.ts'
import type { Logger } from '../common/index.ts'

const SIGNING_KEYS_FILE = 'signing-keys.json'
/** The longest a gateway token may live (24 h); a retired key verifies for this long. */
const MAX_TOKEN_TTL_S = 24 * 3600
export const GATEWAY_ISSUER = 'nemo-gateway'
const ALG = 'EdDSA'
/** A token naming a kid this instance does not know re-reads the key file at most this often. */
const RELOAD_EVERY_MS = 5000

interface StoredKey {
  kid: string
  /** the private JWK (d, x) */
  jwk: JWK
  createdAt: string
  /** when a newer key took over; dropped MAX_TOKEN_TTL_S after this */
  retiredAt?: string
}

export interface SigningKeysOptions {
  /** TOKEN_SIGNING_KEY: a private Ed25519 JWK (JSON). */
  configured?: string
  /** TOKEN_SIGNING_KEYS_RETIRED: public JWKs (a JSON array, or a JWKS `{keys}`) still accepted. */
  retired?: string
  dataDir: string
  log?: Pick<Logger, 'warn'>
}

type Verifier = ReturnType<typeof createLocalJWKSet>

export class SigningKeys {
  private current!: { kid: string, key: CryptoKey }
  private publicKeys: JWK[] = []
  private verifier!: Verifier
  private lastReload = 0

  private constructor (private readonly file: string | null) {}

  static async load (opts: SigningKeysOptions): Promise<SigningKeys> {
    if (opts.configured !== undefined) {
      const keys = new SigningKeys(null)
      const jwk = parseJwk(opts.configured, 'TOKEN_SIGNING_KEY')
      if (jwk.d === undefined) throw new Error('TOKEN_SIGNING_KEY must be a private key (a JWK with "d")')
      const kid = await calculateJwkThumbprint(jwk)
      const retired = opts.retired === undefined ? [] : parseJwks(opts.retired)
      await keys.use({ kid, jwk }, retired)
      return keys
    }
    const dir = resolve(opts.dataDir)
    const keys = new SigningKeys(join(dir, SIGNING_KEYS_FILE))
    let stored = await readKeys(keys.file!)
    if (stored === undefined) {
      stored = await createKeysFile(keys.file!)
      opts.log?.warn({ file: keys.file }, 'TOKEN_SIGNING_KEY is not set: generated a token signing key into DATA_DIR; instances sharing the database must share this file or set TOKEN_SIGNING_KEY')
    }
    await keys.apply(stored)
    return keys
  }

  /** The public keys, for /.well-known/jwks.json. */
  jwks (): { keys: JWK[] } {
    return { keys: this.publicKeys }
  }

  get currentKid (): string {
    return this.current.kid
  }

  /** A signed token for `audience`, valid `ttlSeconds`; `iat` to the millisecond (revocation compares it). */
  async sign (claims: JWTPayload, opts: { audience: string, subject: string, ttlSeconds: number }): Promise<{ token: string, expiresAt: Date }> {
    const now = Date.now()
    const exp = Math.floor(now / 1000) + Math.min(opts.ttlSeconds, MAX_TOKEN_TTL_S)
    const token = await new SignJWT(claims)
      .setProtectedHeader({ alg: ALG, kid: this.current.kid, typ: 'JWT' })
      .setIssuer(GATEWAY_ISSUER)
      .setAudience(opts.audience)
      .setSubject(opts.subject)
      .setIssuedAt(now / 1000)
      .setExpirationTime(exp)
      .setJti(randomUUID())
      .sign(this.current.key)
    return { token, expiresAt: new Date(exp * 1000) }
  }

  /** The claims of a token this gateway signed for `audience`; throws (jose's errors) otherwise. */
  async verify (token: string, audience: string): Promise<JWTPayload> {
    try {
      return (await jwtVerify(token, this.verifier, { algorithms: [ALG], issuer: GATEWAY_ISSUER, audience, requiredClaims: ['exp', 'iat', 'sub'] })).payload
    } catch (err) {
      // another instance may have rotated: its new kid is in the file
      if ((err as { code?: string }).code !== 'ERR_JWKS_NO_MATCHING_KEY' || !await this.reload()) throw err
      return (await jwtVerify(token, this.verifier, { algorithms: [ALG], issuer: GATEWAY_ISSUER, audience, requiredClaims: ['exp', 'iat', 'sub'] })).payload
    }
  }

  /** A new current key (DATA_DIR keys only); the old one keeps verifying its tokens until they expire. */
  async rotate (now = new Date()): Promise<string> {
    if (this.file === null) throw gwError('GW_ERR_CONFLICT', 'The signing key comes from TOKEN_SIGNING_KEY: rotate by setting a new one and listing the old public key in TOKEN_SIGNING_KEYS_RETIRED')
    const stored = (await readKeys(this.file)) ?? []
    for (const k of stored) k.retiredAt ??= now.toISOString()
    stored.push(await newKey(now))
    const tmp = `${this.file}.${process.pid}.${randomBytes(4).toString('hex')}`
    await writeFile(tmp, JSON.stringify({ keys: live(stored, now) }, null, 2), { mode: 0o600 })
    await rename(tmp, this.file)
    await this.apply(stored)
    return this.current.kid
  }

  private async reload (): Promise<boolean> {
    if (this.file === null || Date.now() - this.lastReload < RELOAD_EVERY_MS) return false
    this.lastReload = Date.now()
    const stored = await readKeys(this.file)
    if (stored === undefined) return false
    await this.apply(stored)
    return true
  }

  private async apply (stored: StoredKey[]): Promise<void> {
    const keys = live(stored, new Date())
    const current = keys.filter(k => k.retiredAt === undefined).at(-1) ?? keys.at(-1)
    if (current === undefined) throw new Error(`${this.file} holds no signing key`)
    await this.use(current, keys.filter(k => k !== current).map(k => publicOf(k.jwk, k.kid)))
  }

  private async use (current: { kid: string, jwk: JWK }, others: JWK[]): Promise<void> {
    this.current = { kid: current.kid, key: await importJWK({ ...current.jwk, alg: ALG }, ALG) as CryptoKey }
    const all = [publicOf(current.jwk, current.kid)]
    for (const jwk of others) all.push({ ...publicOf(jwk, jwk.kid ?? await calculateJwkThumbprint(jwk)) })
    this.publicKeys = all
    this.verifier = createLocalJWKSet({ keys: all })
  }
}

function publicOf (jwk: JWK, kid: string): JWK {
  return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, kid, alg: ALG, use: 'sig' }
}

/** Keys still needed: the current ones, and retired ones whose tokens may still live. */
function live (keys: StoredKey[], now: Date): StoredKey[] {
  return keys.filter(k => k.retiredAt === undefined || Date.parse(k.retiredAt) + MAX_TOKEN_TTL_S * 1000 > now.getTime())
}

async function newKey (now: Date): Promise<StoredKey> {
  const { privateKey } = await generateKeyPair('Ed25519', { extractable: true })
  const jwk = await exportJWK(privateKey)
  return { kid: await calculateJwkThumbprint(jwk), jwk, createdAt: now.toISOString() }
}

function parseJwk (text: string, source: string): JWK {
  let jwk: JWK
  try {
    jwk = JSON.parse(text) as JWK
  } catch {
    throw new Error(`${source} must be a JWK (JSON)`)
  }
  if (jwk.kty !== 'OKP' || jwk.crv !== 'Ed25519' || typeof jwk.x !== 'string') throw new Error(`${source} must be an Ed25519 key (kty OKP, crv Ed25519)`)
  return jwk
}

function parseJwks (text: string): JWK[] {
  let value: unknown
  try {
    value = JSON.parse(text)
  } catch {
    throw new Error('TOKEN_SIGNING_KEYS_RETIRED must be JSON: an array of public JWKs, or {"keys": [...]}')
  }
  const list = Array.isArray(value) ? value : (value as { keys?: unknown }).keys
  if (!Array.isArray(list)) throw new Error('TOKEN_SIGNING_KEYS_RETIRED must be an array of public JWKs, or {"keys": [...]}')
  return list.map((k, i) => {
    const jwk = parseJwk(JSON.stringify(k), `TOKEN_SIGNING_KEYS_RETIRED[${i}]`)
    return { kty: jwk.kty, crv: jwk.crv, x: jwk.x, ...(jwk.kid === undefined ? {} : { kid: jwk.kid }) }
  })
}

async function readKeys (file: string): Promise<StoredKey[] | undefined> {
  const text = await readKeyFileText(file)
  if (text === undefined) return undefined
  const keys = (JSON.parse(text) as { keys?: StoredKey[] }).keys
  if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file} holds no signing key`)
  return keys
}

/** Written to a temporary file, then linked into place: concurrent first starts agree on one key. */
async function createKeysFile (file: string): Promise<StoredKey[]> {
  const keys = [await newKey(new Date())]
  return await createKeyFileOnce(file, JSON.stringify({ keys }, null, 2), keys, readKeys)
}
