// Builds every domain service from its dependencies, once per app.
import { ApiKeys } from './api-keys.ts'
import { Credentials } from './credentials.ts'
import { Credits } from './credits.ts'
import type { DomainDeps } from './deps.ts'
import { SessionEvents } from './events.ts'
import { Sessions } from './sessions.ts'
import { Tenants } from './tenants.ts'
import { Users } from './users.ts'

export interface Domain {
  tenants: Tenants
  apiKeys: ApiKeys
  users: Users
  credentials: Credentials
  events: SessionEvents
  sessions: Sessions
  credits: Credits
}

export function buildDomain (deps: DomainDeps): Domain {
  const tenants = new Tenants(deps.prisma)
  const apiKeys = new ApiKeys(deps.prisma)
  const users = new Users(deps.prisma)
  const credentials = new Credentials(deps)
  const events = new SessionEvents(deps.prisma)
  const sessions = new Sessions(deps, credentials, events)
  const credits = new Credits(deps, credentials)
  return { tenants, apiKeys, users, credentials, events, sessions, credits }
}
