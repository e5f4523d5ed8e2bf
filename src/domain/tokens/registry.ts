// The registry of a tenant's registered upstream tokens: what the admin faces (admin API,
// CLI, first run) do to the pool. Registering asks the upstream to vouch for the token first;
// removing revokes it (sessions pinned to it keep their history). Requests never come here.
import { encrypt, sha256Hex } from '../../db/crypto.ts'
import { gwError } from '../../errors.ts'
import { NemoError } from '../../nemo/errors.ts'
import type { Credential as CredentialRow } from '../../generated/prisma/client.ts'
import type { DomainDeps } from '../common/index.ts'
import { effectiveState, type CredentialState } from './credential-state.ts'
import type { Credentials } from './credentials.ts'

export interface CredentialView {
  id: string
  tenantId: string
  userId: string | null
  kind: 'anonymous' | 'registered'
  label: string | null
  state: CredentialState
  stateReason: string | null
  upstreamUserId: string | null
  expiresAt: Date | null
  retryAfter: Date | null
  createdAt: Date
  sessions?: number
}

export class TokenRegistry {
  constructor (private readonly deps: DomainDeps, private readonly credentials: Credentials) {}

  view (row: CredentialRow & { _count?: { sessions: number } }): CredentialView {
    return {
      id: row.id,
      tenantId: row.tenantId,
      userId: row.userId,
      kind: row.kind,
      label: row.label,
      state: effectiveState(row),
      stateReason: row.stateReason,
      upstreamUserId: row.upstreamUserId,
      expiresAt: row.expiresAt,
      retryAfter: row.retryAfter,
      createdAt: row.createdAt,
      ...(row._count ? { sessions: row._count.sessions } : {})
    }
  }

  async register (tenantId: string, input: { token: string, label?: string, expiresAt?: Date | null }): Promise<CredentialView> {
    const hash = sha256Hex(input.token)
    const dup = await this.deps.prisma.credential.findUnique({ where: { tokenHash: hash } })
    if (dup) throw gwError('GW_ERR_CONFLICT', 'This upstream token is registered already')
    // the upstream vouches for the token before the pool takes it; its balance is the
    // baseline the tenant's spend is measured from
    let balance
    try {
      balance = await this.deps.nemo.getCredits(input.token)
    } catch (err) {
      if (err instanceof NemoError && err.kind === 'token_invalid') throw gwError('GW_ERR_VALIDATION', 'The upstream does not accept this token (invalid, expired or revoked)')
      throw err
    }
    const row = await this.deps.prisma.credential.create({
      data: {
        lastCredits: { ...balance, at: new Date().toISOString() },
        tenantId,
        kind: 'registered',
        label: input.label ?? null,
        tokenCiphertext: encrypt(this.deps.encryptionKey, input.token),
        tokenHash: hash,
        expiresAt: input.expiresAt ?? null
      }
    })
    this.credentials.forget()
    return this.view(row)
  }

  async list (tenantId: string): Promise<CredentialView[]> {
    const rows = await this.deps.prisma.credential.findMany({
      where: { tenantId },
      include: { _count: { select: { sessions: true } } },
      orderBy: { createdAt: 'asc' }
    })
    return rows.map(r => this.view(r))
  }

  /** Removing a token revokes it: sessions pinned to it keep their history. */
  async remove (tenantId: string, id: string): Promise<CredentialView> {
    const row = await this.deps.prisma.credential.findFirst({ where: { id, tenantId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Credential ${id} not found`)
    const updated = await this.deps.prisma.credential.update({ where: { id }, data: { state: 'revoked', stateReason: 'removed by an admin' } })
    this.credentials.forget()
    return this.view(updated)
  }
}
