// A user's upstream balance plus the tenant's budget. Balances are cached briefly per token,
// and concurrent reads of one token share one upstream call, so a burst of dashboard
// refreshes costs the upstream one call.
import type { Credentials, Lease } from './credentials.ts'
import { gwError } from '../../errors.ts'
import { creditsHint, NemoError } from '../../nemo/errors.ts'
import { ANONYMOUS_MINT_CREDITS } from '../../nemo/wire.ts'
import type { Actor, DomainDeps } from '../common/index.ts'
import { TtlCache } from '../common/index.ts'
import { NO_USER } from '../usage/index.ts'
import type { CacheSync } from '../common/index.ts'
import type { CreditsView } from '../../schemas/credits.ts'
export type { CreditsView } from '../../schemas/credits.ts'

interface TenantSettings { tokenMode: 'anonymous' | 'registered', creditBudget: number | null, creditsSpent: number }

/**
 * A fresh balance of a token, in one round trip: the token's last balance is swapped for this
 * one under its row lock (concurrent observations of a shared token each see the one before),
 * unless the last one was read later than this one ($2's `at`: when the read was sent; an
 * answer that arrives after a newer one's counts nothing, or a drop would be counted twice),
 * and what it dropped by (never negative; nothing when there was no number before) is the
 * spend of the actions it was read for: one share per action ($4 tenants, $5 users, one entry
 * each), split evenly (the remainder to the first ones), added to each tenant's spend and to
 * each user's usage of the day. Answers `spent` (null when nothing was swapped) and `kept`
 * (whether this balance is now the token's last: not when the credential is gone or a newer one
 * is there).
 */
const OBSERVE = `WITH prev AS (SELECT "lastCredits" FROM "Credential" WHERE id = $1::uuid FOR UPDATE),
  newer AS (SELECT "lastCredits" AS previous FROM prev
    WHERE CASE WHEN jsonb_typeof("lastCredits"->'at') = 'string' THEN ("lastCredits"->>'at')::timestamptz <= ($2::jsonb->>'at')::timestamptz ELSE true END),
  swapped AS (UPDATE "Credential" c SET "lastCredits" = $2::jsonb FROM newer WHERE c.id = $1::uuid RETURNING newer.previous AS previous),
  spent AS (SELECT CASE WHEN jsonb_typeof(previous->'available') = 'number' THEN GREATEST(0, (previous->>'available')::numeric - $3::numeric) ELSE 0 END AS spent FROM swapped),
  shares AS (SELECT a.tenant, a.usr, spent.spent::int / cardinality($4::uuid[]) + CASE WHEN a.ord <= spent.spent::int % cardinality($4::uuid[]) THEN 1 ELSE 0 END AS share
    FROM spent, unnest($4::uuid[], $5::uuid[]) WITH ORDINALITY AS a(tenant, usr, ord) WHERE spent.spent > 0),
  charged AS (UPDATE "Tenant" t SET "creditsSpent" = t."creditsSpent" + s.share, "updatedAt" = now() AT TIME ZONE 'UTC'
    FROM (SELECT tenant, sum(share)::int AS share FROM shares GROUP BY tenant) s WHERE t.id = s.tenant AND s.share > 0 RETURNING 1),
  used AS (INSERT INTO "UsageDaily" ("tenantId", "userId", "day", "creditsSpent")
    SELECT tenant, usr, (now() AT TIME ZONE 'UTC')::date, sum(share)::int FROM shares GROUP BY tenant, usr HAVING sum(share) > 0
    ON CONFLICT ("tenantId", "day", "userId") DO UPDATE SET "creditsSpent" = "UsageDaily"."creditsSpent" + EXCLUDED."creditsSpent" RETURNING 1)
  SELECT (SELECT spent::float8 FROM spent) AS spent, EXISTS (SELECT 1 FROM swapped) AS kept`

/** Ends of actions on one token that wait for one balance read (see `Credits.chargeAfter`). */
interface ChargeBatch { actors: Actor[], lease: Lease, done: Promise<void> }

/** A token's balance reads after actions: the last one out, and the batch waiting to go next. */
interface ChargeLine { last: Promise<void>, waiting: ChargeBatch | undefined }

interface Balance { available: number, frozen: number, total: number, at: number }

export class Credits {
  private readonly cache = new Map<string, Balance>()
  /** Charges still being counted, by tenant (see `counting`). */
  private readonly charging = new Map<string, Set<Promise<void>>>()
  private readonly tenants: TtlCache<TenantSettings>
  /** One upstream balance read per token at a time, shared by every reader that asks meanwhile. */
  private readonly inflight = new Map<string, Promise<{ balance: Balance, spent: number }>>()
  /** By token: the last balance read after actions ended, and the batch waiting for its turn. */
  private readonly charges = new Map<string, ChargeLine>()

  constructor (private readonly deps: DomainDeps, private readonly credentials: Credentials, private readonly caches: CacheSync) {
    this.tenants = new TtlCache(deps.config.HOT_CACHE_TTL_MS)
    caches.onChange((change) => { if (change.kind === 'tenant') this.tenants.delete(change.tenantId) })
  }

  /**
   * A read: it never mints (a user without a token is told what a first mint grants) and a
   * zero balance is an answer (200 with the hint), not an error; only actions answer 402.
   */
  async get (actor: Actor, retried = false): Promise<CreditsView> {
    const tenant = await this.tenant(actor.tenantId)
    const budget = (spent: number): CreditsView['budget'] => {
      const limit = tenant.creditBudget
      return { limit, spent, remaining: limit === null ? null : Math.max(0, limit - spent), exceeded: limit !== null && spent >= limit }
    }
    const current = await this.credentials.current(actor, tenant.tokenMode)
    if (current === null) {
      return {
        available: ANONYMOUS_MINT_CREDITS,
        frozen: 0,
        total: ANONYMOUS_MINT_CREDITS,
        tokenMode: tenant.tokenMode,
        token: 'none yet',
        hint: null,
        budget: budget(tenant.creditsSpent),
        cachedAt: new Date()
      }
    }
    if (current.state === 'rate_limited') {
      const seconds = Math.max(1, Math.ceil(((current.retryAfter?.getTime() ?? Date.now()) - Date.now()) / 1000))
      throw gwError('GW_ERR_UPSTREAM_RATE_LIMITED', 'The upstream is rate limiting this user\'s token', {
        headers: { 'retry-after': String(seconds) },
        extensions: { retryAfter: seconds }
      })
    }
    let balance: Balance
    let spent = tenant.creditsSpent
    try {
      const read = await this.balance(actor, current.lease)
      balance = read.balance
      spent += read.spent
    } catch (err) {
      const next = await this.credentials.noteFailure(current.lease, err)
      // a confirmed 1001: the token is gone, and the read answers as for a user without one
      if ((next === 'other' || next === 'same') && !retried) return await this.get(actor, true)
      if (!(err instanceof NemoError && err.kind === 'credits_exhausted')) throw err
      balance = { available: 0, frozen: 0, total: 0, at: Date.now() }
    }
    let token = current.state
    if (token === 'exhausted' && balance.available > 0) {
      await this.credentials.noteBalance(current.lease.credentialId, balance.available)
      token = 'active'
    }
    if (balance.available === 0 && token === 'active') token = 'exhausted'
    return {
      available: balance.available,
      frozen: balance.frozen,
      total: balance.total,
      tokenMode: tenant.tokenMode,
      token,
      hint: balance.available === 0 ? creditsHint(current.lease.upstreamUserId) : null,
      budget: budget(spent),
      cachedAt: new Date(balance.at)
    }
  }

  /** The tenant's mode, budget and spend (HOT_CACHE_TTL_MS; a change here applies at once). */
  private async tenant (id: string): Promise<TenantSettings> {
    return await this.tenants.load(id, async () =>
      await this.deps.prisma.tenant.findUniqueOrThrow({ where: { id }, select: { tokenMode: true, creditBudget: true, creditsSpent: true } }))
  }

  /** The token's balance from the cache, or one upstream read shared by concurrent callers. */
  private async balance (actor: Actor, lease: Lease): Promise<{ balance: Balance, spent: number }> {
    const cached = this.cache.get(lease.credentialId)
    if (cached && Date.now() - cached.at <= this.deps.config.CREDITS_CACHE_TTL_MS) return { balance: cached, spent: 0 }
    let pending = this.inflight.get(lease.credentialId)
    if (!pending) {
      pending = (async () => {
        const sentAt = new Date()
        const fresh = await this.deps.nemo.getCredits(lease.token)
        const spent = await this.observe(actor, lease, fresh, sentAt)
        // the newest balance known (another read's, when it was sent after this one)
        return { balance: this.cache.get(lease.credentialId) ?? { ...fresh, at: Date.now() }, spent }
      })().finally(() => this.inflight.delete(lease.credentialId))
      this.inflight.set(lease.credentialId, pending)
    }
    return await pending
  }

  /**
   * Records a fresh balance of a token: what it dropped by since the last observation is what
   * the upstream charged, and is added to the tenant's spend and to the usage of the actor's
   * user that day (a shared registered token's drop goes to the user whose action read it).
   * The row lock makes concurrent observations of one shared token count each credit once.
   */
  private async observe (actor: Actor, lease: Lease, balance: { available: number, frozen: number, total: number }, sentAt: Date): Promise<number> {
    return await this.observeFor([actor], lease, balance, sentAt)
  }

  /** `observe` for several actions that one read of the balance came after: the drop is split between them. */
  private async observeFor (actors: Actor[], lease: Lease, balance: { available: number, frozen: number, total: number }, sentAt: Date): Promise<number> {
    const [row] = await this.deps.sql.prepared<{ spent: number | null, kept: boolean }>('gw_observe_credits', OBSERVE, [
      lease.credentialId, JSON.stringify({ ...balance, at: sentAt.toISOString() }), balance.available,
      actors.map((a) => a.tenantId), actors.map((a) => a.userId === '' ? NO_USER : a.userId)
    ])
    if (row?.kept === true) {
      this.cache.set(lease.credentialId, { ...balance, at: Date.now() })
      if (this.cache.size > 10_000) this.cache.delete(this.cache.keys().next().value!)
    }
    const spent = row?.spent ?? 0
    if (spent > 0) {
      for (const tenantId of new Set(actors.map((a) => a.tenantId))) this.caches.changed({ kind: 'tenant', tenantId })
    }
    return spent
  }

  /**
   * Counts what an action cost once it has ended: a read of its token's balance, and the drop
   * since the last one charged. Actions on one token that end while its read is out wait for
   * the next read together, which starts once that one is done (after all of them ended): a
   * burst of turns on a shared token costs the upstream two or three balance reads and the
   * database as many writes, not one each, and the drop is split evenly between them. Never
   * rejects: a failed read is logged and nothing is charged.
   */
  chargeAfter (actor: Actor, lease: Lease): Promise<void> {
    const key = lease.credentialId
    let line = this.charges.get(key)
    if (line?.waiting !== undefined) {
      line.waiting.actors.push(actor)
      return line.waiting.done
    }
    if (line === undefined) this.charges.set(key, line = { last: Promise.resolve(), waiting: undefined })
    const batch: ChargeBatch = { actors: [actor], lease, done: Promise.resolve() }
    const it = line
    const done = it.last.then(async () => {
      // it goes now: an action that ends from here on waits for the next read
      it.waiting = undefined
      await this.readAndCharge(batch)
    }).finally(() => {
      if (it.last === done && it.waiting === undefined) this.charges.delete(key)
    })
    batch.done = it.last = done
    it.waiting = batch
    return done
  }

  private async readAndCharge (batch: ChargeBatch): Promise<void> {
    try {
      // sent now: a read already under way (a dashboard's) may have left before these ended
      const sentAt = new Date()
      const balance = await this.deps.nemo.getCredits(batch.lease.token, { fresh: true })
      await this.observeFor(batch.actors, batch.lease, balance, sentAt)
    } catch (err) {
      this.deps.log.warn({ err, credentialId: batch.lease.credentialId, actions: batch.actors.length }, 'could not read the balance after an action')
    }
  }

  /** Refuses work that spends credits on a token known to have none (402 with the hint). */
  async assertCreditsLeft (credentialId: string): Promise<void> {
    await this.credentials.assertNotExhausted(credentialId)
  }

  /**
   * Counts `charge` (an observation of what an action cost, told after the action's end) as
   * the tenant's until it settles; it never rejects (a failed read is logged by its maker).
   */
  counting (tenantId: string, charge: Promise<void>): Promise<void> {
    let pending = this.charging.get(tenantId)
    if (pending === undefined) this.charging.set(tenantId, pending = new Set())
    const settled = charge.catch(() => {}).finally(() => {
      pending.delete(settled)
      if (pending.size === 0 && this.charging.get(tenantId) === pending) this.charging.delete(tenantId)
    })
    pending.add(settled)
    return settled
  }

  /** Waits for the tenant's charges still being counted on this instance. */
  async settled (tenantId: string): Promise<void> {
    const pending = this.charging.get(tenantId)
    if (pending !== undefined) await Promise.all(pending)
  }

  /**
   * Refuses new work when the tenant's budget is used up. Charges still being counted on this
   * instance are waited for only when there is a budget to weigh them against: a tenant without
   * one (the default) starts its next turn without waiting for the last one's balance read.
   */
  async assertWithinBudget (tenantId: string): Promise<void> {
    if ((await this.tenant(tenantId)).creditBudget === null) return
    await this.settled(tenantId)
    const tenant = await this.tenant(tenantId)
    if (tenant.creditBudget !== null && tenant.creditsSpent >= tenant.creditBudget) {
      throw gwError('GW_ERR_BUDGET_EXCEEDED', `The tenant has spent ${tenant.creditsSpent} of its ${tenant.creditBudget} credit budget; raise the budget to continue`, {
        extensions: { budget: tenant.creditBudget, spent: tenant.creditsSpent }
      })
    }
  }
}
