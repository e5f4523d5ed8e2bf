// What every domain service is built from. Domain code never imports Fastify: the app's
// `domain` plugin builds the services once from these and decorates the instance.
import type { PrismaClient } from '../../generated/prisma/client.ts'
import type { Config } from '../../config.ts'
import type { NemoClient } from '../../nemo/client.ts'
import type { EventBus } from './bus.ts'
import type { Sql } from '../../db/client.ts'

export type Db = InstanceType<typeof PrismaClient>

export interface Logger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
  debug: (obj: object, msg?: string) => void
}

/** Durable delayed jobs (pg-boss). At most one job per key waits at a time. */
export interface JobQueue {
  schedule: (queue: string, data: Record<string, unknown>, opts: { delayMs: number, key: string }) => Promise<void>
}

export interface DomainDeps {
  prisma: Db
  /** Plain SQL on Prisma's pool, for reads on every request's path (src/db/client.ts). */
  sql: Sql
  nemo: NemoClient
  config: Config
  encryptionKey: Buffer
  log: Logger
  bus: EventBus
  /** The gateway's base URL as callers reach it (download links in events and webhooks). */
  publicBaseUrl: () => string
  /** Absent in the CLI, which runs no jobs: work it would schedule is picked up by the app's reconciler. */
  jobs?: JobQueue
}

/** The caller a request acts for: a tenant and one of its end users. */
export interface Actor {
  tenantId: string
  userId: string
  /** A client token bound to some sessions: every other session is unknown to it. */
  sessionIds?: readonly string[]
}

/** The actor of an authenticated request: which key spoke, and the end user's own id. */
export interface RequestActor extends Actor {
  /** Who spoke, for per-caller limits: the API key's id, `client:<user id>` for a client token, `portal:<portal session id>` for a portal link. */
  apiKeyId: string
  keyId: string
  externalUserId: string
  /** What the credential may do: `*` or a set of scopes (domain/tenancy/scopes.ts). */
  scopes: '*' | ReadonlySet<string>
  via: 'api-key' | 'client-token' | 'portal'
}
