// Builds every domain service from its dependencies, once per app.
import { ApiKeys, ClientTokens, Deletions, Origins, PortalSessions, TokenIssuers, type SigningKeys } from './tenancy/index.ts'
import { Credentials, Credits, TokenRegistry } from './tokens/index.ts'
import type { DomainDeps } from './common/index.ts'
import { SessionEvents } from './events/index.ts'
import { Sessions } from './sessions/index.ts'
import { Tenants } from './tenancy/index.ts'
import { Uploads } from './uploads/index.ts'
import { Users } from './tenancy/index.ts'
import { Timelines } from './sessions/index.ts'
import { Turns } from './turns/index.ts'
import { Say } from './turns/index.ts'
import { Exports } from './exports/index.ts'
import { Webhooks } from './webhooks/index.ts'
import { WebhookDelivery } from './webhooks/index.ts'
import { EgressGuard } from './webhooks/index.ts'
import { CacheSync } from './common/index.ts'
import { Retention } from './retention/index.ts'
import { Usage } from './usage/index.ts'

export interface Domain {
  tenants: Tenants
  apiKeys: ApiKeys
  users: Users
  credentials: Credentials
  /** Registered tokens, for the admin faces. */
  tokenRegistry: TokenRegistry
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
  /** Erasing a user's or a tenant's data. */
  deletions: Deletions
  /** Pruning what is older than its retention age. */
  retention: Retention
  /** Tokens for a tenant's web and mobile apps, and the tenants' own token issuers. */
  clientTokens: ClientTokens
  tokenIssuers: TokenIssuers
  /** Webhook portal links for a tenant's staff. */
  portalSessions: PortalSessions
  signingKeys: SigningKeys
  /** Browser origins each tenant allows. */
  origins: Origins
  /** What a tenant's users used, per day (counters the actions write). */
  usage: Usage
}

export function buildDomain (deps: DomainDeps, signingKeys: SigningKeys): Domain {
  const tenants = new Tenants(deps.prisma)
  const apiKeys = new ApiKeys(deps.prisma)
  const users = new Users(deps.prisma)
  const caches = new CacheSync()
  caches.onChange((change) => { if (change.kind === 'users') users.forget(change.tenantId, change.externalId) })
  const credentials = new Credentials(deps, caches)
  const events = new SessionEvents(deps.prisma, deps.bus, deps.sql)
  const sessions = new Sessions(deps, credentials, events, caches)
  const tokenRegistry = new TokenRegistry(deps, credentials)
  const credits = new Credits(deps, credentials, caches)
  tenants.onChange((tenantId) => { caches.changed({ kind: 'tenant', tenantId }) })
  const origins = new Origins(deps.prisma, deps.config.HOT_CACHE_TTL_MS)
  caches.onChange((change) => { if (change.kind === 'tenant') origins.forget(change.tenantId) })
  const timelines = new Timelines(deps.nemo, sessions)
  const turns = new Turns(deps, sessions, events, timelines, credits)
  const guard = new EgressGuard(deps.config.WEBHOOK_ALLOWED_CIDRS)
  const webhooks = new Webhooks(deps, guard)
  const webhookDelivery = new WebhookDelivery(deps, webhooks, guard)
  const exports = new Exports(deps, sessions, credentials, events, timelines, webhooks, credits)
  const say = new Say(sessions, turns, timelines, credits, exports, deps.config.UPLOAD_MAX_BYTES)
  const uploads = new Uploads(deps, sessions, events)
  const deletions = new Deletions(deps, exports, turns, caches)
  const retention = new Retention(deps, exports)
  const tokenIssuers = new TokenIssuers(deps.prisma, guard)
  caches.onChange((change) => { if (change.kind === 'issuers') tokenIssuers.forget() })
  const clientTokens = new ClientTokens(deps.prisma, signingKeys, tokenIssuers)
  return { tenants, apiKeys, users, credentials, tokenRegistry, events, sessions, credits, timelines, turns, say, uploads, exports, webhooks, webhookDelivery, caches, deletions, retention, clientTokens, tokenIssuers, portalSessions: new PortalSessions(deps.prisma, signingKeys, caches, deps.publicBaseUrl), signingKeys, origins, usage: new Usage(deps.prisma, async (tenantId) => { await credits.settled(tenantId) }) }
}
