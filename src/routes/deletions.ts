// What a deletion answers: how many rows of each kind it removed (REST /v1 and the admin API).
import { Type } from 'typebox'

const count = (description: string) => Type.Integer({ minimum: 0, description })

const userCounts = {
  users: count('the user row (0 when there was none)'),
  sessions: count('sessions'),
  sessionEvents: count('session log events'),
  turns: count('chat turns'),
  uploads: count('uploads\' metadata'),
  exports: count('exports'),
  archivedFiles: count('the exports\' archived MP4 files (local disk or S3)'),
  webhookMessages: count('webhook messages (with their delivery attempts)'),
  credentials: count('upstream tokens retired (the user\'s own; for a tenant, all of its tokens)')
}

export const UserDeletionSchema = Type.Object({
  deleted: Type.Object(userCounts)
}, { $id: 'UserDeletion' })

export const TenantDeletionSchema = Type.Object({
  deleted: Type.Object({
    ...userCounts,
    tenants: count('the tenant row (0 when there was none)'),
    apiKeys: count('API keys'),
    webhookEndpoints: count('webhook endpoints'),
    idempotencyRecords: count('stored idempotent responses'),
    mintLedger: count('token mint ledger entries')
  })
}, { $id: 'TenantDeletion' })
