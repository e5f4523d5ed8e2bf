// What every domain service is built from. Domain code never imports Fastify: the app's
// `domain` plugin builds the services once from these and decorates the instance.
import type { PrismaClient } from '../generated/prisma/client.ts'
import type { Config } from '../config.ts'
import type { NemoClient } from '../nemo/client.ts'
import type { EventBus } from './events.ts'

export type Db = InstanceType<typeof PrismaClient>

export interface Logger {
  info: (obj: object, msg?: string) => void
  warn: (obj: object, msg?: string) => void
  error: (obj: object, msg?: string) => void
  debug: (obj: object, msg?: string) => void
}

export interface DomainDeps {
  prisma: Db
  nemo: NemoClient
  config: Config
  encryptionKey: Buffer
  log: Logger
  bus: EventBus
}

/** The caller a request acts for: a tenant and one of its end users. */
export interface Actor {
  tenantId: string
  userId: string
}
