// Erasing an end user's data, or a whole tenant's. First whatever still runs for them stops
// (active exports are cancelled through the export service, this instance's running turns are
// cut), so no background job writes for them afterwards; their exports' archived files are
// deleted from the output store; then one transaction deletes their rows
// in dependency order, children first, and the answer counts what each kind lost. Deleting what
// is not there (an unknown or already deleted user or tenant) deletes nothing: zero counts.
// Turns another instance runs stop on their own: their lease renewal finds the rows gone.
import type { Prisma } from '../../generated/prisma/client.ts'
import { isGatewayError } from '../../errors.ts'
import type { Actor, CacheSync, DomainDeps } from '../common/index.ts'
import type { Exports } from '../exports/index.ts'
import type { Turns } from '../turns/index.ts'

export interface UserDeletion {
  users: number
  sessions: number
  sessionEvents: number
  turns: number
  uploads: number
  exports: number
  /** the exports' archived MP4 files (local disk or S3) */
  archivedFiles: number
  webhookMessages: number
  /** the user's own (anonymous) upstream tokens; a tenant's shared registered tokens are kept */
  credentials: number
}

export interface TenantDeletion extends UserDeletion {
  tenants: number
  apiKeys: number
  webhookEndpoints: number
  idempotencyRecords: number
  mintLedger: number
}

/** an export in one of these states still renders (the export context's own list) */
const ACTIVE = ['queued', 'pending', 'processing'] as const
/** How long a running turn may take to write its end before its rows are deleted anyway. */
const TURN_STOP_MS = 5_000

function noUser (): UserDeletion {
  return { users: 0, sessions: 0, sessionEvents: 0, turns: 0, uploads: 0, exports: 0, archivedFiles: 0, webhookMessages: 0, credentials: 0 }
}

export class Deletions {
  constructor (
    private readonly deps: DomainDeps,
    private readonly exports: Exports,
    private readonly turns: Turns,
    private readonly caches: CacheSync
  ) {}

  /** Everything of one end user (the tenant's own user id), the user row last. */
  async deleteUser (tenantId: string, externalId: string): Promise<UserDeletion> {
    const { prisma } = this.deps
    const user = await prisma.user.findUnique({ where: { tenantId_externalId: { tenantId, externalId } } })
    if (!user) return noUser()
    await this.stopRunning({ tenantId, userId: user.id })
    const archivedFiles = await this.removeFiles({ tenantId, userId: user.id })
    const counts = await prisma.$transaction(async (tx) => {
      const exportIds = (await tx.export.findMany({ where: { tenantId, userId: user.id }, select: { id: true } })).map((e) => e.id)
      const webhookMessages = await this.deleteMessages(tx, tenantId, externalId, exportIds)
      const exports = (await tx.export.deleteMany({ where: { tenantId, userId: user.id } })).count
      const sessions = { tenantId, userId: user.id }
      const sessionEvents = (await tx.sessionEvent.deleteMany({ where: { session: sessions } })).count
      const turns = (await tx.turn.deleteMany({ where: { session: sessions } })).count
      const uploads = (await tx.upload.deleteMany({ where: { session: sessions } })).count
      const sessionCount = (await tx.session.deleteMany({ where: sessions })).count
      // a registered token is the tenant's, whoever it was lent to: it outlives the user
      await tx.credential.updateMany({ where: { userId: user.id, kind: 'registered' }, data: { userId: null } })
      const credentials = (await tx.credential.deleteMany({ where: { tenantId, userId: user.id } })).count
      const users = (await tx.user.deleteMany({ where: { id: user.id } })).count
      return { users, sessions: sessionCount, sessionEvents, turns, uploads, exports, archivedFiles, webhookMessages, credentials }
    }, { timeout: 60_000 })
    this.caches.changed({ kind: 'users', tenantId, externalId })
    return counts
  }

  /** Everything of one tenant: its users' data, keys, tokens, webhooks, and the tenant row. */
  async deleteTenant (tenantId: string): Promise<TenantDeletion> {
    const { prisma } = this.deps
    const tenant = await prisma.tenant.findUnique({ where: { id: tenantId }, select: { id: true } })
    if (!tenant) return { ...noUser(), tenants: 0, apiKeys: 0, webhookEndpoints: 0, idempotencyRecords: 0, mintLedger: 0 }
    await this.stopRunning({ tenantId })
    const archivedFiles = await this.removeFiles({ tenantId })
    const counts = await prisma.$transaction(async (tx) => {
      const where = { tenantId }
      const webhookMessages = (await tx.webhookMessage.deleteMany({ where })).count
      const webhookEndpoints = (await tx.webhookEndpoint.deleteMany({ where })).count
      const exports = (await tx.export.deleteMany({ where })).count
      const sessionEvents = (await tx.sessionEvent.deleteMany({ where: { session: where } })).count
      const turns = (await tx.turn.deleteMany({ where: { session: where } })).count
      const uploads = (await tx.upload.deleteMany({ where: { session: where } })).count
      const sessions = (await tx.session.deleteMany({ where })).count
      const credentials = (await tx.credential.deleteMany({ where })).count
      const users = (await tx.user.deleteMany({ where })).count
      const apiKeys = (await tx.apiKey.deleteMany({ where })).count
      const idempotencyRecords = (await tx.idempotencyRecord.deleteMany({ where })).count
      const mintLedger = (await tx.mintLedger.deleteMany({ where })).count
      const tenants = (await tx.tenant.deleteMany({ where: { id: tenantId } })).count
      return { users, sessions, sessionEvents, turns, uploads, exports, archivedFiles, webhookMessages, credentials, tenants, apiKeys, webhookEndpoints, idempotencyRecords, mintLedger }
    }, { timeout: 120_000 })
    this.caches.changed({ kind: 'users', tenantId })
    this.caches.changed({ kind: 'tenant', tenantId })
    this.caches.changed({ kind: 'keys' })
    return counts
  }

  /** Cancels the active exports and stops this instance's running turns of a user or tenant. */
  private async stopRunning (scope: { tenantId: string, userId?: string }): Promise<void> {
    const { prisma, log } = this.deps
    const active = await prisma.export.findMany({ where: { ...scope, status: { in: [...ACTIVE] } }, select: { id: true, tenantId: true, userId: true } })
    for (const e of active) {
      const actor: Actor = { tenantId: e.tenantId, userId: e.userId }
      try {
        await this.exports.cancel(actor, e.id)
      } catch (err) {
        // finished meanwhile, or the upstream would not say: the rows go all the same, and a
        // poll that comes later finds no row to write to
        if (!isGatewayError(err, 'GW_ERR_EXPORT_FINISHED')) log.warn({ err, exportId: e.id }, 'could not cancel an export before deleting it')
      }
    }
    const sessions = await prisma.session.findMany({ where: scope, select: { id: true } })
    await this.turns.stopIn(sessions.map((s) => s.id), TURN_STOP_MS)
  }

  /**
   * The archived files of the exports in scope go before their rows: a file must not outlive
   * the deletion, and a deletion that fails half-way is finished by calling it again. A copy
   * still running for one of them deletes its own file when it finds the row gone.
   */
  private async removeFiles (scope: { tenantId: string, userId?: string }): Promise<number> {
    const rows = await this.deps.prisma.export.findMany({ where: { ...scope, archiveKey: { not: null } }, select: { id: true } })
    return await this.exports.removeArchivedFiles(rows.map((r) => r.id))
  }

  /** The webhook messages about the user or their exports (their payload's `data` names them). */
  private async deleteMessages (tx: Prisma.TransactionClient, tenantId: string, externalId: string, exportIds: string[]): Promise<number> {
    return await tx.$executeRaw`
      DELETE FROM "WebhookMessage"
      WHERE "tenantId" = ${tenantId}::uuid
        AND ("payload"->'data'->>'userId' = ${externalId} OR "payload"->'data'->>'exportId' = ANY(${exportIds}::text[]))`
  }
}
