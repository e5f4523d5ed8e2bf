// A tenant's webhook endpoints and the messages sent to them (Standard Webhooks). Endpoints are
// tenant resources, not an end user's. Secrets are `whsec_` + 32 random bytes, shown once and
// stored encrypted; a rotation keeps the old secret signing for an overlap window. Messages are
// written in the caller's transaction (the outbox) and sent by the delivery worker.
import { createHash, randomBytes } from 'node:crypto'
import type { Prisma, WebhookAttempt as AttemptRow, WebhookEndpoint as EndpointRow, WebhookMessage as MessageRow } from '../../generated/prisma/client.ts'
import { decrypt, encrypt } from '../../db/crypto.ts'
import { gwError } from '../../errors.ts'
import { after, pageOf, type Page } from '../common/index.ts'
import type { DomainDeps } from '../common/index.ts'
import type { EgressGuard } from './egress-guard.ts'
import type { EndpointView, MessageView, AttemptView } from '../../schemas/webhook.ts'
export type { EndpointView, MessageView, AttemptView } from '../../schemas/webhook.ts'

export const WEBHOOK_EVENTS = ['export.completed', 'export.failed', 'export.cancelled'] as const
/** What "send a test event" sends: to one endpoint, whatever events it asked for. */
const WEBHOOK_TEST_EVENT = 'webhook.test'

interface StoredSecret { secret: string, createdAt: string, expiresAt: string | null }

export interface EndpointInput {
  url: string
  events?: string[]
  description?: string
}

/**
 * A one-way digest of a secret: lets a stored answer point at the secret it showed without
 * holding it (a digest of 32 random bytes gives nothing away).
 */
export function secretDigest (plain: string): string {
  return createHash('sha256').update(plain).digest('base64url')
}

export function webhookId (messageId: string): string {
  return `msg_${messageId.replace(/-/g, '')}`
}

export class Webhooks {
  private wakeListener: () => void = () => {}

  constructor (private readonly deps: DomainDeps, private readonly guard: EgressGuard) {}

  endpointView (row: EndpointRow): EndpointView {
    return {
      id: row.id,
      url: row.url,
      description: row.description,
      events: row.events,
      enabled: row.enabled,
      disabledReason: row.disabledReason,
      disabledAt: row.disabledAt,
      failingSince: row.failingSince,
      createdAt: row.createdAt,
      updatedAt: row.updatedAt
    }
  }

  messageView (row: MessageRow): MessageView {
    return {
      id: row.id,
      webhookId: webhookId(row.id),
      endpointId: row.endpointId,
      eventType: row.eventType,
      payload: row.payload,
      status: row.status as MessageView['status'],
      attempts: row.attemptCount,
      nextAttemptAt: row.nextAttemptAt,
      deliveredAt: row.deliveredAt,
      createdAt: row.createdAt
    }
  }

  attemptView (row: AttemptRow): AttemptView {
    return {
      id: row.id.toString(),
      trigger: row.trigger,
      statusCode: row.statusCode,
      responseBody: row.responseBody,
      latencyMs: row.latencyMs,
      error: row.error,
      nextAttemptAt: row.nextAttemptAt,
      createdAt: row.createdAt
    }
  }

  /** The delivery worker registers here to be woken when messages are written. */
  onWakeDelivery (wake: () => void): void {
    this.wakeListener = wake
  }

  /** Wakes the delivery worker: messages were committed (a finish, a recover). */
  wakeDelivery (): void {
    this.wakeListener()
  }

  private async checkUrl (raw: string): Promise<string> {
    let url: URL
    try {
      url = new URL(raw)
    } catch {
      throw gwError('GW_ERR_VALIDATION', 'url must be an absolute http(s) URL')
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') throw gwError('GW_ERR_VALIDATION', 'url must be an http(s) URL')
    if (url.username !== '' || url.password !== '') throw gwError('GW_ERR_VALIDATION', 'url must not carry credentials; verify the signature instead')
    const why = await this.guard.check(url)
    if (why !== null) throw gwError('GW_ERR_WEBHOOK_URL_NOT_ALLOWED', `The webhook URL is refused: ${why}`)
    return url.toString()
  }

  private checkEvents (events: string[] | undefined): string[] {
    const list = [...new Set(events ?? [])]
    const unknown = list.filter(e => !(WEBHOOK_EVENTS as readonly string[]).includes(e))
    if (unknown.length > 0) throw gwError('GW_ERR_VALIDATION', `Unknown event type(s): ${unknown.join(', ')}; known: ${WEBHOOK_EVENTS.join(', ')}`)
    return list
  }

  private newSecret (): { plain: string, stored: StoredSecret } {
    const plain = `whsec_${randomBytes(32).toString('base64')}`
    return { plain, stored: { secret: encrypt(this.deps.encryptionKey, plain), createdAt: new Date().toISOString(), expiresAt: null } }
  }

  /** Creates an endpoint; the secret is in the answer, and never again. */
  async create (tenantId: string, input: EndpointInput): Promise<EndpointView & { secret: string }> {
    const url = await this.checkUrl(input.url)
    const events = this.checkEvents(input.events)
    const { plain, stored } = this.newSecret()
    const row = await this.deps.prisma.webhookEndpoint.create({
      data: { tenantId, url, events, description: input.description ?? null, secrets: [stored] as unknown as Prisma.InputJsonValue }
    })
    return { ...this.endpointView(row), secret: plain }
  }

  async getRow (tenantId: string, id: string): Promise<EndpointRow> {
    const row = await this.deps.prisma.webhookEndpoint.findFirst({ where: { id, tenantId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Webhook endpoint ${id} not found`)
    return row
  }

  async get (tenantId: string, id: string): Promise<EndpointView> {
    return this.endpointView(await this.getRow(tenantId, id))
  }

  async list (tenantId: string, opts: { cursor?: string, limit: number }): Promise<Page<EndpointView>> {
    const rows = await this.deps.prisma.webhookEndpoint.findMany({
      where: { tenantId, OR: after(opts.cursor, 'createdAt') },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.createdAt, r => this.endpointView(r))
  }

  async update (tenantId: string, id: string, input: Partial<EndpointInput> & { enabled?: boolean }): Promise<EndpointView> {
    await this.getRow(tenantId, id)
    const data: Prisma.WebhookEndpointUpdateInput = {}
    if (input.url !== undefined) data.url = await this.checkUrl(input.url)
    if (input.events !== undefined) data.events = this.checkEvents(input.events)
    if (input.description !== undefined) data.description = input.description
    if (input.enabled === true) Object.assign(data, { enabled: true, disabledReason: null, disabledAt: null, failingSince: null })
    if (input.enabled === false) Object.assign(data, { enabled: false, disabledReason: 'disabled by the tenant', disabledAt: new Date() })
    return this.endpointView(await this.deps.prisma.webhookEndpoint.update({ where: { id }, data }))
  }

  async remove (tenantId: string, id: string): Promise<void> {
    await this.getRow(tenantId, id)
    await this.deps.prisma.webhookEndpoint.delete({ where: { id } })
  }

  /**
   * A new secret; the previous one keeps signing (both signatures are sent) until the
   * overlap ends, so receivers can switch without a gap.
   */
  async rotateSecret (tenantId: string, id: string, overlapMs = this.deps.config.WEBHOOK_ROTATION_OVERLAP_MS): Promise<EndpointView & { secret: string, previousSecretExpiresAt: Date }> {
    const row = await this.getRow(tenantId, id)
    const until = new Date(Date.now() + overlapMs)
    const kept = this.liveSecrets(row).map(s => ({ ...s, expiresAt: s.expiresAt !== null && new Date(s.expiresAt) < until ? s.expiresAt : until.toISOString() }))
    const { plain, stored } = this.newSecret()
    const updated = await this.deps.prisma.webhookEndpoint.update({
      where: { id },
      data: { secrets: [stored, ...kept].slice(0, 5) as unknown as Prisma.InputJsonValue }
    })
    return { ...this.endpointView(updated), secret: plain, previousSecretExpiresAt: until }
  }

  /**
   * The endpoint's secret with this digest (see `secretDigest`), decrypted, while it still
   * signs; null once it has been rotated away, or the endpoint is gone.
   */
  async liveSecretByDigest (tenantId: string, id: string, digest: string): Promise<string | null> {
    const row = await this.deps.prisma.webhookEndpoint.findFirst({ where: { id, tenantId } })
    if (!row) return null
    return this.signingSecrets(row).find(secret => secretDigest(secret) === digest) ?? null
  }

  private liveSecrets (row: EndpointRow): StoredSecret[] {
    const now = Date.now()
    return (row.secrets as unknown as StoredSecret[]).filter(s => s.expiresAt === null || new Date(s.expiresAt).getTime() > now)
  }

  /** The plain secrets that sign a message now, newest first. */
  signingSecrets (row: EndpointRow): string[] {
    return this.liveSecrets(row).map(s => decrypt(this.deps.encryptionKey, s.secret))
  }

  /**
   * Writes one message per enabled endpoint of the tenant that wants this event, in the
   * caller's transaction. The body is fixed here: every retry sends (and signs) these bytes.
   * `traceparent`: the request that caused the event; each delivery's span links to it.
   */
  async enqueue (tx: Prisma.TransactionClient, tenantId: string, type: string, data: Record<string, unknown>, traceparent: string | null = null): Promise<number> {
    const endpoints = await tx.webhookEndpoint.findMany({ where: { tenantId, enabled: true }, select: { id: true, events: true } })
    const wanted = endpoints.filter(e => e.events.length === 0 || e.events.includes(type))
    const now = new Date()
    const payload = { type, timestamp: now.toISOString(), data }
    const body = JSON.stringify(payload)
    const { count } = await tx.webhookMessage.createMany({
      data: wanted.map(e => ({ tenantId, endpointId: e.id, eventType: type, payload: payload as Prisma.InputJsonValue, body, nextAttemptAt: now, traceparent }))
    })
    return count
  }

  /**
   * A `webhook.test` message to one endpoint, sent now on the normal schedule (retries, attempt
   * log): the way to check a receiver and its secret. A disabled endpoint is refused.
   */
  async sendTest (tenantId: string, endpointId: string): Promise<MessageView> {
    const endpoint = await this.getRow(tenantId, endpointId)
    if (!endpoint.enabled) {
      throw gwError('GW_ERR_CONFLICT', `This endpoint is disabled (${endpoint.disabledReason ?? 'by the tenant'}); enable it, then send a test event`, { extensions: { endpointId } })
    }
    const now = new Date()
    const payload = { type: WEBHOOK_TEST_EVENT, timestamp: now.toISOString(), data: { endpointId, note: 'A test event: nothing happened' } }
    const row = await this.deps.prisma.webhookMessage.create({
      data: { tenantId, endpointId, eventType: WEBHOOK_TEST_EVENT, payload, body: JSON.stringify(payload), nextAttemptAt: now }
    })
    this.wakeDelivery()
    return this.messageView(row)
  }

  async messages (tenantId: string, endpointId: string, opts: { status?: string, cursor?: string, limit: number }): Promise<Page<MessageView>> {
    await this.getRow(tenantId, endpointId)
    const rows = await this.deps.prisma.webhookMessage.findMany({
      where: { tenantId, endpointId, ...(opts.status === undefined ? {} : { status: opts.status }), OR: after(opts.cursor, 'createdAt') },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.createdAt, r => this.messageView(r))
  }

  async messageRow (tenantId: string, id: string): Promise<MessageRow> {
    const row = await this.deps.prisma.webhookMessage.findFirst({ where: { id, tenantId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Webhook message ${id} not found`)
    return row
  }

  async message (tenantId: string, id: string): Promise<MessageView & { attemptLog: AttemptView[] }> {
    const row = await this.messageRow(tenantId, id)
    const attempts = await this.deps.prisma.webhookAttempt.findMany({ where: { messageId: id }, orderBy: { id: 'asc' }, take: 100 })
    return { ...this.messageView(row), attemptLog: attempts.map(a => this.attemptView(a)) }
  }

  /**
   * Sends every failed message of an endpoint since `since` again, on the normal retry
   * schedule (and any pending one that lost its next attempt).
   */
  async recover (tenantId: string, endpointId: string, since: Date, until?: Date): Promise<number> {
    const end = until ?? new Date()
    if (end < since) {
      throw gwError('GW_ERR_VALIDATION', `${until === undefined ? 'now' : `until (${end.toISOString()})`} is before since (${since.toISOString()}): no message can be in that window`)
    }
    await this.getRow(tenantId, endpointId)
    const { count } = await this.deps.prisma.webhookMessage.updateMany({
      where: { tenantId, endpointId, OR: [{ status: 'failed' }, { status: 'pending', nextAttemptAt: null }], createdAt: { gte: since, lte: end } },
      data: { status: 'pending', attemptCount: 0, nextAttemptAt: new Date(), lockedUntil: null }
    })
    if (count > 0) this.wakeDelivery()
    return count
  }
}
