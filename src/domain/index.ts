// Builds every domain service from its dependencies, once per app.
import { ApiKeys } from './api-keys.ts'
import { Credentials } from './credentials.ts'
import { Credits } from './credits.ts'
import type { DomainDeps } from './deps.ts'
import { SessionEvents } from './events.ts'
import { Sessions } from './sessions.ts'
import { Tenants } from './tenants.ts'
import { Uploads } from './uploads.ts'
import { Users } from './users.ts'
import { Timelines } from './timeline.ts'
import { Turns } from './turns.ts'
import { Say } from './say.ts'
import { Exports } from './exports.ts'
import { Webhooks } from './webhooks.ts'
import { WebhookDelivery } from './webhook-delivery.ts'
import { EgressGuard } from './egress-guard.ts'
import { CacheSync } from './cache-sync.ts'

export interface Domain {
  tenants: Tenants
  apiKeys: ApiKeys
  users: Users
  credentials: Credentials
  events: SessionEvents
  sessions: Sessions
  credits: Credits
  timelines: Timelines
  turns: Turns
  say: Say
  uploads: Uploads
  exports: Exports
  webhooks: Webhooks
  webhookDelivery: WebhookDelivery
  /** The hot path's caches, kept in step across instances. */
  caches: CacheSync
}

export function buildDomain (deps: DomainDeps): Domain {
  const tenants = new Tenants(deps.prisma)
  const apiKeys = new ApiKeys(deps.prisma)
  const users = new Users(deps.prisma)
  const caches = new CacheSync()
  const credentials = new Credentials(deps, caches)
  const events = new SessionEvents(deps.prisma, deps.bus, deps.sql)
  const sessions = new Sessions(deps, credentials, events)
  const credits = new Credits(deps, credentials, caches)
  tenants.onChange((tenantId) => { caches.changed({ kind: 'tenant', tenantId }) })
  const timelines = new Timelines(deps.nemo, sessions)
  const turns = new Turns(deps, sessions, events, timelines, credits)
  const guard = new EgressGuard(deps.config.WEBHOOK_ALLOWED_CIDRS)
  const webhooks = new Webhooks(deps, guard)
  const webhookDelivery = new WebhookDelivery(deps, webhooks, guard)
  const exports = new Exports(deps, sessions, credentials, events, timelines, webhooks)
  const say = new Say(sessions, turns, timelines, credits, exports, deps.config.UPLOAD_MAX_BYTES)
  const uploads = new Uploads(deps, sessions, events)
  return { tenants, apiKeys, users, credentials, events, sessions, credits, timelines, turns, say, uploads, exports, webhooks, webhookDelivery, caches }
}
