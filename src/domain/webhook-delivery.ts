// The delivery worker: sends due webhook messages, signed per Standard Webhooks, and records
// every attempt. Due messages are claimed with FOR UPDATE SKIP LOCKED and a lease, so with
// many instances each attempt is made by one. 2xx ends a message; 410 disables the endpoint;
// 429 and 5xx honour Retry-After; anything else (3xx included: redirects are not followed)
// is retried on the schedule with jitter until it runs out. An endpoint failing every attempt
// for WEBHOOK_DISABLE_AFTER_MS is disabled, and the reason is recorded on it.
import { Webhook } from 'standardwebhooks'
import { Agent } from 'undici'
import { parseRetryAfter } from '../nemo/errors.ts'
import type { DomainDeps } from './deps.ts'
import type { EgressGuard } from './egress-guard.ts'
import { webhookId, type AttemptView, type Webhooks } from './webhooks.ts'
import { domainMetrics } from './metrics.ts'
import { annotateSpan, inSpan } from './tracing.ts'

const BATCH = 20
const BODY_PREVIEW = 1024
const USER_AGENT = 'nemo-gateway-webhooks/1'

type Trigger = 'scheduled' | 'replay'

/** `5s,5m,30m,2h` (or plain milliseconds) -> milliseconds. */
export function parseSchedule (text: string): number[] {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }
  return text.split(',').map(s => s.trim()).filter(s => s !== '').map((part) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(part)
    if (!m) throw new Error(`WEBHOOK_RETRY_SCHEDULE: "${part}" is not a duration like 5s, 5m, 2h`)
    return Math.round(Number(m[1]) * units[m[2] ?? 'ms']!)
  })
}

export class WebhookDelivery {
  private readonly agent: Agent
  private readonly schedule: number[]
  private timer: NodeJS.Timeout | undefined
  private running: Promise<void> | undefined
  private again = false
  private stopped = true

  constructor (private readonly deps: DomainDeps, private readonly webhooks: Webhooks, private readonly guard: EgressGuard) {
    this.schedule = parseSchedule(deps.config.WEBHOOK_RETRY_SCHEDULE)
    const timeout = deps.config.WEBHOOK_TIMEOUT_MS
    // redirects are not followed: a 3xx is a failed attempt (Standard Webhooks)
    this.agent = new Agent({ connect: { timeout, lookup: guard.lookup }, headersTimeout: timeout, bodyTimeout: timeout } as Agent.Options)
    webhooks.onMessages(() => this.kick())
  }

  start (): void {
    this.stopped = false
    this.timer = setInterval(() => this.kick(), this.deps.config.WEBHOOK_POLL_MS)
    this.timer.unref()
    this.kick()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.running
    await this.agent.close()
  }

  /** Runs a delivery pass now (or right after the one in progress). */
  kick (): void {
    if (this.stopped) return
    if (this.running) {
      this.again = true
      return
    }
    this.running = this.pass()
      .catch((err: unknown) => this.deps.log.warn({ err }, 'webhook delivery pass failed'))
      .finally(() => {
        this.running = undefined
        if (this.again) {
          this.again = false
          this.kick()
        }
      })
  }

  private async pass (): Promise<void> {
    for (;;) {
      const leaseMs = this.deps.config.WEBHOOK_TIMEOUT_MS + 30_000
      const claimed = await this.deps.prisma.$queryRaw<Array<{ id: string }>>`
        UPDATE "WebhookMessage" SET "lockedUntil" = now() + ${leaseMs} * interval '1 millisecond'
        WHERE id IN (
          SELECT id FROM "WebhookMessage"
          WHERE status = 'pending' AND "nextAttemptAt" <= now() AND ("lockedUntil" IS NULL OR "lockedUntil" < now())
          ORDER BY "nextAttemptAt" LIMIT ${BATCH} FOR UPDATE SKIP LOCKED)
        RETURNING id`
      if (claimed.length === 0) return
      await Promise.all(claimed.map(async ({ id }) => await this.attempt(id, 'scheduled').catch((err: unknown) => {
        this.deps.log.warn({ err, messageId: id }, 'webhook attempt could not be recorded')
      })))
      if (claimed.length < BATCH || this.stopped) return
    }
  }

  /** Sends one message once more now, whatever its state (the tenant asked for it). */
  async replay (tenantId: string, messageId: string): Promise<AttemptView> {
    await this.webhooks.messageRow(tenantId, messageId)
    return await this.attempt(messageId, 'replay')
  }

  private async attempt (messageId: string, trigger: Trigger): Promise<AttemptView> {
    return await inSpan('webhook.deliver', { 'nemo.webhook.message.id': messageId, 'nemo.webhook.trigger': trigger }, async () => await this.attemptTraced(messageId, trigger))
  }

  private async attemptTraced (messageId: string, trigger: Trigger): Promise<AttemptView> {
    const { prisma } = this.deps
    const msg = await prisma.webhookMessage.findUniqueOrThrow({ where: { id: messageId }, include: { endpoint: true } })
    annotateSpan({ 'nemo.tenant.id': msg.tenantId, 'nemo.webhook.endpoint.id': msg.endpointId, 'nemo.webhook.event': msg.eventType })
    const endpoint = msg.endpoint
    if (!endpoint.enabled && trigger === 'scheduled') {
      await prisma.webhookMessage.update({ where: { id: msg.id }, data: { status: 'failed', lockedUntil: null, nextAttemptAt: null } })
      const row = await prisma.webhookAttempt.create({ data: { messageId, trigger, error: `endpoint disabled: ${endpoint.disabledReason ?? ''}` } })
      return this.webhooks.attemptView(row)
    }
    const result = await this.send(endpoint.url, msg.id, msg.body, this.webhooks.signingSecrets(endpoint))
    const now = Date.now()
    const ok = result.statusCode !== undefined && result.statusCode >= 200 && result.statusCode < 300
    let nextAttemptAt: Date | null = null
    let status = msg.status
    let disable: string | null = null
    if (ok) {
      status = 'delivered'
    } else if (result.statusCode === 410) {
      status = 'failed'
      disable = 'The receiver answered 410 Gone'
    } else if (trigger === 'scheduled') {
      const failingSince = endpoint.failingSince?.getTime() ?? now
      const wait = this.schedule[msg.attemptCount]
      if (now - failingSince >= this.deps.config.WEBHOOK_DISABLE_AFTER_MS) {
        status = 'failed'
        disable = `Every delivery failed for ${Math.round((now - failingSince) / 3600_000)} h`
      } else if (wait === undefined) {
        status = 'failed'
      } else {
        const jittered = wait * (0.9 + Math.random() * 0.2)
        const retryAfter = result.statusCode === 429 || (result.statusCode ?? 0) >= 500 ? (result.retryAfterSec ?? 0) * 1000 : 0
        nextAttemptAt = new Date(now + Math.max(jittered, retryAfter))
      }
    }
    const [row] = await prisma.$transaction([
      prisma.webhookAttempt.create({
        data: {
          messageId,
          trigger,
          statusCode: result.statusCode ?? null,
          responseBody: result.body ?? null,
          latencyMs: result.latencyMs,
          error: result.error ?? null,
          nextAttemptAt
        }
      }),
      prisma.webhookMessage.update({
        where: { id: messageId },
        data: {
          status,
          lockedUntil: null,
          nextAttemptAt,
          ...(trigger === 'scheduled' ? { attemptCount: { increment: 1 } } : {}),
          ...(ok ? { deliveredAt: new Date(now) } : {})
        }
      }),
      prisma.webhookEndpoint.update({
        where: { id: endpoint.id },
        data: ok
          ? { failingSince: null }
          : {
              failingSince: endpoint.failingSince ?? new Date(now),
              ...(disable === null ? {} : { enabled: false, disabledReason: disable, disabledAt: new Date(now) })
            }
      })
    ])
    const outcome = ok ? 'delivered' : result.statusCode === undefined ? 'error' : `http_${Math.floor(result.statusCode / 100)}xx`
    domainMetrics().webhookAttempts.add(1, { outcome, trigger })
    domainMetrics().webhookLatency.record(result.latencyMs, { outcome })
    if (disable !== null) this.deps.log.warn({ endpointId: endpoint.id, reason: disable }, 'webhook endpoint disabled')
    return this.webhooks.attemptView(row)
  }

  private async send (url: string, messageId: string, body: string, secrets: string[]): Promise<{ statusCode?: number, body?: string, error?: string, latencyMs: number, retryAfterSec?: number }> {
    const id = webhookId(messageId)
    const at = new Date()
    const signature = secrets.map(s => new Webhook(s).sign(id, at, body)).join(' ')
    const started = performance.now()
    try {
      const target = new URL(url)
      // names are checked on the resolved address by the agent's lookup, at connect time
      const why = this.guard.literalRefusal(target)
      if (why !== null) return { error: `refused: ${why}`, latencyMs: 0 }
      const res = await this.agent.request({
        origin: target.origin,
        path: target.pathname + target.search,
        method: 'POST',
        headers: {
          'content-type': 'application/json',
          'user-agent': USER_AGENT,
          'webhook-id': id,
          'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
          'webhook-signature': signature
        },
        body
      })
      const preview = await readPreview(res.body)
      const retryAfter = res.headers['retry-after']
      const out: { statusCode: number, body: string, latencyMs: number, retryAfterSec?: number } = {
        statusCode: res.statusCode, body: preview, latencyMs: Math.round(performance.now() - started)
      }
      const seconds = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter)
      if (seconds !== undefined) out.retryAfterSec = seconds
      return out
    } catch (err) {
      const e = err as { code?: string, message?: string }
      return { error: `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}`.slice(0, 500), latencyMs: Math.round(performance.now() - started) }
    }
  }
}

/** The first bytes of a receiver's answer, for the attempt log; the rest is discarded. */
async function readPreview (body: AsyncIterable<Buffer> & { destroy: () => void }): Promise<string> {
  const chunks: Buffer[] = []
  let size = 0
  for await (const chunk of body) {
    chunks.push(chunk)
    size += chunk.length
    if (size >= BODY_PREVIEW) {
      body.destroy()
      break
    }
  }
  return Buffer.concat(chunks).subarray(0, BODY_PREVIEW).toString('utf8')
}
