// API keys look like `ngw_<keyId>_<secret>`. The keyId finds the row; only a SHA-256 of the
// 256-bit random secret is stored (a slow KDF buys nothing for secrets this long and would
// cost every uncached request). A key is shown once, when issued or rotated.
import { randomBytes, timingSafeEqual } from 'node:crypto'
import { sha256Hex } from '../../db/crypto.ts'
import { gwError } from '../../errors.ts'
import type { Db } from '../common/index.ts'
import { apiKeyScopes } from './scopes.ts'

const KEY_PATTERN = /^ngw_([a-z0-9]{16})_([A-Za-z0-9_-]{43})$/

export interface IssuedKey {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  /** The full key. Never stored, never shown again. */
  key: string
  expiresAt: Date | null
  createdAt: Date
}

export interface ApiKeyView {
  id: string
  keyId: string
  tenantId: string
  name: string | null
  scopes: string[]
  createdAt: Date
  expiresAt: Date | null
  revokedAt: Date | null
  lastUsedAt: Date | null
  rotatedToId: string | null
}

export interface VerifiedKey {
  apiKeyId: string
  keyId: string
  tenantId: string
  scopes: string[]
  expiresAt: Date | null
}

function newKeyId (): string {
  // 16 chars of [a-z0-9]: easy to read aloud in a support ticket, 80 bits
  const alphabet = 'abcdefghijklmnopqrstuvwxyz0123456789'
  const bytes = randomBytes(16)
  let id = ''
  for (const b of bytes) id += alphabet[b % alphabet.length]
  return id
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const KEY_ID = /^[a-z0-9]{16}$/

/** Constant-time comparison of a secret with its stored hash. */
function sameSecret (secretHash: string, secret: string): boolean {
  const expected = Buffer.from(secretHash, 'hex')
  const actual = Buffer.from(sha256Hex(secret), 'hex')
  return expected.length === actual.length && timingSafeEqual(expected, actual)
}

function parseApiKey (raw: string): { keyId: string, secret: string } | null {
  const m = KEY_PATTERN.exec(raw)
  return m ? { keyId: m[1]!, secret: m[2]! } : null
}

function view (row: ApiKeyView): ApiKeyView {
  const { id, keyId, tenantId, name, scopes, createdAt, expiresAt, revokedAt, lastUsedAt, rotatedToId } = row
  return { id, keyId, tenantId, name, scopes, createdAt, expiresAt, revokedAt, lastUsedAt, rotatedToId }
}

export class ApiKeys {
  constructor (private readonly prisma: Db) {}

  async issue (tenantId: string, opts: { name?: string, expiresAt?: Date | null, scopes?: string[] } = {}): Promise<IssuedKey> {
    const scopes = apiKeyScopes(opts.scopes)
    const tenant = await this.prisma.tenant.findUnique({ where: { id: tenantId }, select: { id: true } })
    if (!tenant) throw gwError('GW_ERR_NOT_FOUND', `Tenant ${tenantId} not found`)
    const keyId = newKeyId()
    const secret = randomBytes(32).toString('base64url')
    const row = await this.prisma.apiKey.create({
      data: { tenantId, keyId, secretHash: sha256Hex(secret), name: opts.name ?? null, expiresAt: opts.expiresAt ?? null, scopes }
    })
    return { id: row.id, keyId, tenantId, name: row.name, scopes: row.scopes, key: `ngw_${keyId}_${secret}`, expiresAt: row.expiresAt, createdAt: row.createdAt }
  }

  async list (tenantId: string): Promise<ApiKeyView[]> {
    const rows = await this.prisma.apiKey.findMany({ where: { tenantId }, orderBy: { createdAt: 'asc' } })
    return rows.map(view)
  }

  /**
   * A key by any of the names an operator has for it: its `id` (UUID), its `keyId` (the 16
   * characters after `ngw_`) or the whole key. A whole key must also carry the right secret.
   */
  private async find (ref: string) {
    const parsed = parseApiKey(ref)
    const row = UUID.test(ref)
      ? await this.prisma.apiKey.findUnique({ where: { id: ref } })
      : KEY_ID.test(ref) || parsed !== null
        ? await this.prisma.apiKey.findUnique({ where: { keyId: parsed?.keyId ?? ref } })
        : null
    const secretOk = parsed === null || (row !== null && sameSecret(row.secretHash, parsed.secret))
    if (row === null || !secretOk) throw gwError('GW_ERR_NOT_FOUND', `API key ${parsed !== null ? `ngw_${parsed.keyId}_…` : ref} not found (give its id, its keyId or the whole key)`)
    return row
  }

  async get (ref: string): Promise<ApiKeyView> {
    return view(await this.find(ref))
  }

  async revoke (ref: string): Promise<ApiKeyView> {
    const row = await this.find(ref)
    const updated = await this.prisma.apiKey.update({ where: { id: row.id }, data: { revokedAt: row.revokedAt ?? new Date() } })
    return view(updated)
  }

  /**
   * A new key for the same tenant; the old one keeps working for `overlapSeconds` (0 = it
   * stops now), so callers can roll out the new key without downtime.
   */
  async rotate (ref: string, overlapSeconds: number): Promise<{ key: IssuedKey, previous: ApiKeyView }> {
    const old = await this.find(ref)
    const id = old.id
    if (old.revokedAt) throw gwError('GW_ERR_CONFLICT', `API key ${old.keyId} is revoked and cannot be rotated`)
    const key = await this.issue(old.tenantId, { name: old.name ?? undefined, expiresAt: old.expiresAt, scopes: old.scopes })
    const overlapEnd = new Date(Date.now() + overlapSeconds * 1000)
    const expiresAt = old.expiresAt && old.expiresAt < overlapEnd ? old.expiresAt : overlapEnd
    const previous = await this.prisma.apiKey.update({ where: { id }, data: { expiresAt, rotatedToId: key.id } })
    return { key, previous: view(previous) }
  }

  /** The key's owner when the key is valid now, else null. Constant-time on the secret. */
  async verify (raw: string, now = new Date()): Promise<VerifiedKey | null> {
    const parsed = parseApiKey(raw)
    if (!parsed) return null
    const row = await this.prisma.apiKey.findUnique({ where: { keyId: parsed.keyId } })
    if (!row || !sameSecret(row.secretHash, parsed.secret)) return null
    if (row.revokedAt && row.revokedAt <= now) return null
    if (row.expiresAt && row.expiresAt <= now) return null
    return { apiKeyId: row.id, keyId: row.keyId, tenantId: row.tenantId, scopes: row.scopes, expiresAt: row.expiresAt }
  }

  /** Best effort, off the hot path: the auth plugin calls it at most once a minute per key. */
  async touch (apiKeyId: string): Promise<void> {
    await this.prisma.apiKey.update({ where: { id: apiKeyId }, data: { lastUsedAt: new Date() } })
  }
}
