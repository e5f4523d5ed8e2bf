// The delivery worker: sends due webhook messages, signed per Standard Webhooks, and records
// every attempt. Due messages are claimed with FOR UPDATE SKIP LOCKED and a lease, so with
// many instances each attempt is made by one. 2xx ends a message; 410 disables the endpoint;
// 429 and 5xx honour Retry-After; anything else (3xx included: redirects are not followed)
// is retried on the schedule with jitter until it runs out. An endpoint failing every attempt
// for WEBHOOK_DISABLE_AFTER_MS is disabled, and the reason is recorded on it.
//
// One receiver cannot hold back another: every attempt has one deadline for connect, headers
// and body together (WEBHOOK_TIMEOUT_MS), attempts run side by side up to
// WEBHOOK_CONCURRENCY per instance, and an endpoint has at most WEBHOOK_ENDPOINT_CONCURRENCY
// attempts in flight across all instances (counted from the leases in the table), so slow
// endpoints fill their own slots and never the worker. A claim's lease outlasts the deadline,
// so no other instance sends the same message while an attempt runs.
import { Webhook } from 'standardwebhooks'
import { Agent, type Dispatcher } from 'undici'
import { gwError } from '../../errors.ts'
import { parseRetryAfter } from '../../http/retry-after.ts'
import type { DomainDeps } from '../common/index.ts'
import { addUsage } from '../usage/index.ts'
import type { EgressGuard } from './egress-guard.ts'
import { webhookId, type AttemptView, type Webhooks } from './webhooks.ts'
import { domainMetrics } from '../../observability/metrics.ts'
import { annotateSpan, inSpan, linkSpan } from '../../observability/tracing.ts'

const BODY_PREVIEW = 1024
const USER_AGENT = 'nemo-gateway-webhooks/1'

type Trigger = 'scheduled' | 'replay'

/** `5s,5m,30m,2h` (or plain milliseconds) -> milliseconds. */
function parseSchedule (text: string): number[] {
  const units: Record<string, number> = { ms: 1, s: 1000, m: 60_000, h: 3600_000, d: 86_400_000 }
  return text.split(',').map(s => s.trim()).filter(s => s !== '').map((part) => {
    const m = /^(\d+(?:\.\d+)?)(ms|s|m|h|d)?$/.exec(part)
    if (!m) throw new Error(`WEBHOOK_RETRY_SCHEDULE: "${part}" is not a duration like 5s, 5m, 2h`)
    return Math.round(Number(m[1]) * units[m[2] ?? 'ms']!)
  })
}

/** A lease is the attempt's deadline plus this: time to record the outcome. */
const LEASE_MARGIN_MS = 30_000
/** Due messages looked at per claim: enough to find healthy endpoints behind a busy one. */
const SCAN = 500

export class WebhookDelivery {
  private readonly agent: Agent
  private readonly schedule: number[]
  private timer: NodeJS.Timeout | undefined
  private claiming: Promise<void> | undefined
  private again = false
  private stopped = true
  /** Attempts this instance is making now, by message id. */
  private readonly inFlight = new Map<string, Promise<void>>()

  constructor (private readonly deps: DomainDeps, private readonly webhooks: Webhooks, private readonly guard: EgressGuard) {
    this.schedule = parseSchedule(deps.config.WEBHOOK_RETRY_SCHEDULE)
    const timeout = deps.config.WEBHOOK_TIMEOUT_MS
    // redirects are not followed: a 3xx is a failed attempt (Standard Webhooks). The per-phase
    // timeouts are only a backstop: each attempt's own deadline covers all of it.
    this.agent = new Agent({ connect: { timeout, lookup: guard.lookup }, headersTimeout: timeout, bodyTimeout: timeout } as Agent.Options)
    webhooks.onWakeDelivery(() => this.wake())
  }

  start (): void {
    this.stopped = false
    this.timer = setInterval(() => this.wake(), this.deps.config.WEBHOOK_POLL_MS)
    this.timer.unref()
    this.wake()
  }

  async stop (): Promise<void> {
    this.stopped = true
    clearInterval(this.timer)
    await this.claiming
    // attempts in hand end within their deadline; their outcome is recorded before close
    await Promise.allSettled([...this.inFlight.values()])
    await this.agent.close()
  }

  /** Claims due messages now (or right after the claim in progress) into free slots. */
  wake (): void {
    if (this.stopped) return
    if (this.claiming) {
      this.again = true
      return
    }
    this.claiming = this.claim()
      .catch((err: unknown) => this.deps.log.warn({ err }, 'webhook delivery pass failed'))
      .finally(() => {
        this.claiming = undefined
        if (this.again) {
          this.again = false
          this.wake()
        }
      })
  }

  private leaseMs (): number {
    return this.deps.config.WEBHOOK_TIMEOUT_MS + LEASE_MARGIN_MS
  }

  /**
   * Takes as many due messages as there are free slots, skipping endpoints whose slots are
   * taken (by this instance or another), and starts their attempts without waiting for them.
   */
  private async claim (): Promise<void> {
    const { WEBHOOK_CONCURRENCY: total, WEBHOOK_ENDPOINT_CONCURRENCY: perEndpoint } = this.deps.config
    const free = total - this.inFlight.size
    if (free <= 0) return
    const claimed = await this.deps.prisma.$queryRaw<Array<{ id: string }>>`
      WITH busy AS (
        SELECT "endpointId", count(*)::int AS n FROM "WebhookMessage"
        WHERE status = 'pending' AND "lockedUntil" > now()
        GROUP BY "endpointId"
      ), due AS (
        SELECT m.id, m."endpointId", m."nextAttemptAt" FROM "WebhookMessage" m
        WHERE m.status = 'pending' AND m."nextAttemptAt" <= now()
          AND (m."lockedUntil" IS NULL OR m."lockedUntil" < now())
          AND m."endpointId" NOT IN (SELECT "endpointId" FROM busy WHERE n >= ${perEndpoint})
        ORDER BY m."nextAttemptAt" LIMIT ${SCAN}
        FOR UPDATE SKIP LOCKED
      ), ranked AS (
        SELECT d.id, d."nextAttemptAt",
          row_number() OVER (PARTITION BY d."endpointId" ORDER BY d."nextAttemptAt") + coalesce(b.n, 0) AS slot
        FROM due d LEFT JOIN busy b ON b."endpointId" = d."endpointId"
      )
      UPDATE "WebhookMessage" SET "lockedUntil" = now() + ${this.leaseMs()} * interval '1 millisecond'
      WHERE id IN (SELECT id FROM ranked WHERE slot <= ${perEndpoint} ORDER BY "nextAttemptAt" LIMIT ${free})
      RETURNING id`
    for (const { id } of claimed) {
      const running = this.attempt(id, 'scheduled')
        .then(() => {}, (err: unknown) => this.deps.log.warn({ err, messageId: id }, 'webhook attempt could not be recorded'))
        .finally(() => {
          this.inFlight.delete(id)
          // a slot is free: fill it
          this.wake()
        })
      this.inFlight.set(id, running)
    }
    if (claimed.length === free) this.again = true
  }

  /**
   * Sends one message once more now, whatever its state (the tenant asked for it). A disabled
   * endpoint is refused: enable it first. A pending message keeps its retry schedule.
   */
  async replay (tenantId: string, messageId: string): Promise<AttemptView> {
    const msg = await this.webhooks.messageRow(tenantId, messageId)
    const endpoint = await this.deps.prisma.webhookEndpoint.findUniqueOrThrow({ where: { id: msg.endpointId } })
    if (!endpoint.enabled) {
      throw gwError('GW_ERR_CONFLICT', `The endpoint of this message is disabled (${endpoint.disabledReason ?? 'by the tenant'}); enable it, then replay`, { extensions: { endpointId: endpoint.id } })
    }
    return await this.attempt(messageId, 'replay')
  }

  private async attempt (messageId: string, trigger: Trigger): Promise<AttemptView> {
    return await inSpan('webhook.deliver', { 'nemo.webhook.message.id': messageId, 'nemo.webhook.trigger': trigger }, async () => await this.attemptTraced(messageId, trigger))
  }

  private async attemptTraced (messageId: string, trigger: Trigger): Promise<AttemptView> {
    const { prisma } = this.deps
    const msg = await prisma.webhookMessage.findUniqueOrThrow({ where: { id: messageId }, include: { endpoint: true } })
    annotateSpan({ 'nemo.tenant.id': msg.tenantId, 'nemo.webhook.endpoint.id': msg.endpointId, 'nemo.webhook.event': msg.eventType })
    linkSpan(msg.traceparent)
    const endpoint = msg.endpoint
    if (!endpoint.enabled && trigger === 'scheduled') {
      await prisma.$transaction([
        prisma.webhookMessage.update({ where: { id: msg.id }, data: { status: 'failed', lockedUntil: null, nextAttemptAt: null } }),
        ...(msg.status === 'pending' ? [addUsage(prisma, { tenantId: msg.tenantId, userId: null }, { webhooksFailed: 1 })] : [])
      ])
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
        disable = `Every delivery failed for ${humanDuration(now - failingSince)}`
      } else if (wait === undefined) {
        status = 'failed'
      } else {
        const jittered = wait * (0.9 + Math.random() * 0.2)
        const retryAfter = result.statusCode === 429 || (result.statusCode ?? 0) >= 500 ? (result.retryAfterSec ?? 0) * 1000 : 0
        nextAttemptAt = new Date(now + Math.max(jittered, retryAfter))
      }
    } else if (msg.status === 'pending') {
      // a failed replay leaves a pending message on its schedule
      nextAttemptAt = msg.nextAttemptAt ?? new Date(now)
    }
    // the endpoint row changes only when its health does (updatedAt means a change)
    const endpointChange = ok
      ? (endpoint.failingSince === null ? null : { failingSince: null })
      : (endpoint.failingSince !== null && disable === null
          ? null
          : {
              failingSince: endpoint.failingSince ?? new Date(now),
              ...(disable === null ? {} : { enabled: false, disabledReason: disable, disabledAt: new Date(now) })
            })
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
      ...(endpointChange === null ? [] : [prisma.webhookEndpoint.update({ where: { id: endpoint.id }, data: endpointChange })]),
      // usage counts a message once per outcome it reaches (a failed one replayed with success: both)
      ...(status !== msg.status && (status === 'delivered' || status === 'failed')
        ? [addUsage(prisma, { tenantId: msg.tenantId, userId: null }, status === 'delivered' ? { webhooksDelivered: 1 } : { webhooksFailed: 1 })]
        : [])
    ])
    const outcome = ok ? 'delivered' : result.statusCode === undefined ? (result.deadline === true ? 'deadline' : 'error') : `http_${Math.floor(result.statusCode / 100)}xx`
    domainMetrics().webhookAttempts.add(1, { outcome, trigger })
    domainMetrics().webhookLatency.record(result.latencyMs, { outcome })
    if (result.deadline === true) {
      this.deps.log.warn({ messageId, endpointId: endpoint.id, deadlineMs: this.deps.config.WEBHOOK_TIMEOUT_MS, statusCode: result.statusCode }, 'webhook attempt cut at its deadline')
    }
    if (disable !== null) this.deps.log.warn({ endpointId: endpoint.id, reason: disable }, 'webhook endpoint disabled')
    return this.webhooks.attemptView(row)
  }

  /**
   * One POST under one deadline for connect, headers and body. Once a status has arrived it
   * decides the outcome: a 2xx whose body never ends is still delivered. A receiver that an
   * operator let onto an internal network (WEBHOOK_ALLOWED_CIDRS) gets its status and length
   * logged, never its bytes, so the attempt log cannot read internal services.
   */
  private async send (url: string, messageId: string, body: string, secrets: string[]): Promise<SendResult> {
    const id = webhookId(messageId)
    const at = new Date()
    const signature = secrets.map(s => new Webhook(s).sign(id, at, body)).join(' ')
    const started = performance.now()
    const deadlineMs = this.deps.config.WEBHOOK_TIMEOUT_MS
    const signal = AbortSignal.timeout(deadlineMs)
    const elapsed = (): number => Math.round(performance.now() - started)
    let target: URL
    try {
      target = new URL(url)
    } catch {
      return { error: 'refused: not a URL', latencyMs: 0 }
    }
    // names are checked on the resolved address by the agent's lookup, at connect time
    const why = this.guard.literalRefusal(target)
    if (why !== null) return { error: `refused: ${why}`, latencyMs: 0 }
    let res: Dispatcher.ResponseData
    try {
      res = await this.agent.request({
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
        body,
        signal
      })
    } catch (err) {
      if (signal.aborted) return { error: `deadline: no answer within ${deadlineMs} ms`, latencyMs: elapsed(), deadline: true }
      const e = err as { code?: string, message?: string }
      return { error: `${e.code ?? 'ERROR'}: ${e.message ?? String(err)}`.slice(0, 500), latencyMs: elapsed() }
    }
    const out: SendResult = { statusCode: res.statusCode, latencyMs: 0 }
    const retryAfter = res.headers['retry-after']
    const seconds = parseRetryAfter(Array.isArray(retryAfter) ? retryAfter[0] : retryAfter)
    if (seconds !== undefined) out.retryAfterSec = seconds
    const internal = await this.guard.isInternal(target).catch(() => true)
    const preview = await readPreview(res.body, internal ? 0 : BODY_PREVIEW)
    out.body = internal ? `[${preview.size}${preview.complete ? '' : '+'} bytes, not kept: the receiver is on an internal network]` : preview.text
    if (!preview.complete && signal.aborted) {
      out.deadline = true
      out.error = `deadline: the body did not end within ${deadlineMs} ms (the status decides)`
    }
    out.latencyMs = elapsed()
    return out
  }
}

interface SendResult { statusCode?: number, body?: string, error?: string, latencyMs: number, retryAfterSec?: number, deadline?: boolean }

/** 90 s -> "2 min"; 5 days -> "5 d": a disable reason a person reads. */
function humanDuration (ms: number): string {
  if (ms < 60_000) return `${Math.max(1, Math.round(ms / 1000))} s`
  if (ms < 3600_000) return `${Math.round(ms / 60_000)} min`
  if (ms < 2 * 86_400_000) return `${Math.round(ms / 3600_000)} h`
  return `${Math.round(ms / 86_400_000)} d`
}

/**
 * The first `keep` bytes of a receiver's answer for the attempt log, and how much it sent.
 * Reading stops after `keep` bytes (64 KiB when nothing is kept: enough to report a length),
 * or when the attempt's deadline destroys the body.
 */
async function readPreview (body: Dispatcher.ResponseData['body'], keep: number): Promise<{ text: string, size: number, complete: boolean }> {
  const limit = keep > 0 ? keep : 64 * 1024
  const chunks: Buffer[] = []
  let size = 0
  let complete = true
  try {
    for await (const chunk of body as AsyncIterable<Buffer>) {
      if (size < keep) chunks.push(chunk)
      size += chunk.length
      if (size >= limit) {
        complete = false
        body.destroy()
        break
      }
    }
  } catch {
    complete = false
  }
  return { text: Buffer.concat(chunks).subarray(0, keep).toString('utf8'), size, complete }
}
