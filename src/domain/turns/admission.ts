// Admission of chat turns, decided before anything is written: a turn this instance cannot
// serve now is refused at the door (503 when the instance runs all the turns it can, 429 when
// the turn's tenant has its share), never accepted and then left without its events. A turn
// holds its slot from admission to its end. Counts are per instance: N instances take N times.
//
// Fairness: one tenant may hold at most TURNS_MAX_IN_FLIGHT_PER_TENANT; once the instance is
// three quarters full, a tenant holding its fair share (the instance's limit over the tenants
// with turns running, the asker included) or more is refused too, so the last quarter goes to
// tenants below their share and one tenant's burst never takes the instance from the others.
import { gwError, type GatewayError } from '../../errors.ts'

export type RefusalReason = 'instance_full' | 'tenant_limit' | 'tenant_share'

/** How soon a refused caller should try again (turns last seconds to minutes). */
const RETRY_AFTER_SEC = 1
/** Distinct refusals kept built (they differ only by reason and counts). */
const MAX_KEPT_REFUSALS = 1000

export interface AdmissionLimits {
  /** Turns in flight on this instance at most (TURNS_MAX_IN_FLIGHT). */
  instance: number
  /** Turns in flight for one tenant at most (TURNS_MAX_IN_FLIGHT_PER_TENANT). */
  perTenant: number
}

export class TurnAdmission {
  private readonly byTenant = new Map<string, number>()
  private total = 0
  private readonly refusals = new Map<string, GatewayError>()

  constructor (private readonly limits: AdmissionLimits, private readonly refused: (reason: RefusalReason) => void) {}

  /**
   * A slot for one turn of this tenant, or a refusal (thrown: 503 or 429, with Retry-After).
   * The returned release gives the slot back; calling it again does nothing.
   */
  admit (tenantId: string): () => void {
    const refusal = this.refusal(tenantId)
    if (refusal !== null) throw refusal
    const mine = this.byTenant.get(tenantId) ?? 0
    this.byTenant.set(tenantId, mine + 1)
    this.total++
    let released = false
    return () => {
      if (released) return
      released = true
      this.total--
      const left = (this.byTenant.get(tenantId) ?? 1) - 1
      if (left === 0) this.byTenant.delete(tenantId)
      else this.byTenant.set(tenantId, left)
    }
  }

  /**
   * The refusal a turn of this tenant gets now (counted), or null if it would be admitted; no
   * slot is taken. Asked before a turn's request is read, so a burst's refusals cost next to
   * nothing: the same few refusals come back each time (one per reason and count), built once.
   */
  refusal (tenantId: string): GatewayError | null {
    const mine = this.byTenant.get(tenantId) ?? 0
    const { instance, perTenant } = this.limits
    if (mine >= perTenant) return this.refuse('tenant_limit', mine, perTenant)
    if (this.total >= instance) return this.refuse('instance_full', 0, 0)
    if (4 * (instance - this.total) <= instance) {
      const tenants = this.byTenant.size + (mine === 0 ? 1 : 0)
      const share = Math.max(1, Math.floor(instance / tenants))
      if (mine >= share) return this.refuse('tenant_share', mine, share)
    }
    return null
  }

  /** Turns in flight by tenant (for the metric). */
  inFlight (): ReadonlyMap<string, number> {
    return this.byTenant
  }

  private refuse (reason: RefusalReason, mine: number, limit: number): GatewayError {
    this.refused(reason)
    const key = `${reason} ${mine} ${limit}`
    let error = this.refusals.get(key)
    if (error === undefined) {
      // a handful of distinct refusals at most (counts up to the limits), kept as built
      if (this.refusals.size >= MAX_KEPT_REFUSALS) this.refusals.clear()
      this.refusals.set(key, error = refusalError(reason, mine, limit))
    }
    return error
  }
}

function refusalError (reason: RefusalReason, mine: number, limit: number): GatewayError {
  const opts = (extensions: Record<string, unknown>) => ({ headers: { 'retry-after': String(RETRY_AFTER_SEC) }, extensions: { ...extensions, reason, retryAfter: RETRY_AFTER_SEC } })
  switch (reason) {
    case 'tenant_limit':
      return gwError('GW_ERR_TOO_MANY_TURNS', `This tenant has ${mine} turns running on this instance, its limit; send again when one ends`, opts({ limit }))
    case 'instance_full':
      return gwError('GW_ERR_AT_CAPACITY', 'This gateway instance is running all the turns it can; send again shortly', opts({}))
    case 'tenant_share':
      return gwError('GW_ERR_TOO_MANY_TURNS', `This instance is busy and this tenant has ${mine} turns running, its share of it; send again when one ends`, opts({ limit }))
  }
}
