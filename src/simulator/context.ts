// The one mutable object behind a simulator app: current options, upstream state, counters,
// queued faults and every live resource (SSE responses, background timers) so reset and close
// can release them. Passed to route plugins as an option rather than decorated onto Fastify, so
// the gateway's FastifyInstance type never learns about the simulator.
import type { ServerResponse } from 'node:http'
import { resolveOptions, type SimulatorOptions } from './config.ts'
import { Prng } from './prng.ts'
import { SimState } from './state.ts'

export const ENDPOINTS = [
  'anonymous-token', 'claim-token', 'create-session', 'run-sse', 'upload', 'credits', 'state',
  'render-submit', 'render-poll', 'render-cancel', 'download', 'render-result'
] as const
export type EndpointName = typeof ENDPOINTS[number]

export interface Fault {
  endpoint: EndpointName
  count?: number
  status?: number
  body?: unknown
  headers?: Record<string, string>
  code?: number
  message?: string
  delayMs?: number
  destroy?: boolean
}

export interface Counters {
  requests: Record<EndpointName, number>
  abortedUploads: number
  completedUploads: number
  mints: number
}

function zeroCounters (): Counters {
  const requests = Object.fromEntries(ENDPOINTS.map((e) => [e, 0])) as Record<EndpointName, number>
  return { requests, abortedUploads: 0, completedUploads: 0, mints: 0 }
}

/** What the simulator keeps of each request: enough to prove trace propagation. */
export interface SeenRequest { endpoint: EndpointName, traceparent: string | null, at: number }
const SEEN_KEPT = 200

export class SimContext {
  options: SimulatorOptions
  state: SimState
  counters: Counters = zeroCounters()
  /** Open SSE responses; its size is the `openStreams` counter, so it cannot drift. */
  readonly streams = new Set<ServerResponse>()
  private faults: Array<Fault & { remaining: number }> = []
  private readonly timers = new Set<NodeJS.Timeout>()
  /** The last requests, newest last (GET /__sim/requests). */
  seen: SeenRequest[] = []

  constructor (readonly startupOptions: SimulatorOptions) {
    this.options = startupOptions
    this.state = this.freshState()
  }

  private freshState (): SimState {
    const state = new SimState(this.startupOptions.seed)
    if (this.startupOptions.devToken !== null) state.addDevToken(this.startupOptions.devToken)
    return state
  }

  configure (patch: Partial<SimulatorOptions>): SimulatorOptions {
    const next = resolveOptions({ ...this.options, ...patch })
    if (patch.seed !== undefined) this.state.rng = new Prng(next.seed)
    if (typeof patch.devToken === 'string') this.state.addDevToken(patch.devToken)
    this.options = next
    return next
  }

  /** Back to the startup options with nothing remembered. Open streams keep running. */
  reset (): void {
    this.options = this.startupOptions
    this.state = this.freshState()
    this.counters = zeroCounters()
    this.seen = []
    this.faults = []
    this.clearTimers()
  }

  recordRequest (endpoint: EndpointName, traceparent: string | string[] | undefined): void {
    this.seen.push({ endpoint, traceparent: typeof traceparent === 'string' ? traceparent : null, at: Date.now() })
    if (this.seen.length > SEEN_KEPT) this.seen.shift()
  }

  addFault (fault: Fault): void {
    this.faults.push({ ...fault, remaining: fault.count ?? 1 })
  }

  takeFault (endpoint: EndpointName): Fault | undefined {
    const index = this.faults.findIndex((f) => f.endpoint === endpoint)
    const fault = this.faults[index]
    if (fault === undefined) return undefined
    if (--fault.remaining <= 0) this.faults.splice(index, 1)
    return fault
  }

  /** Work the upstream finishes after the client is gone (see the disconnect scenario). */
  later (ms: number, fn: () => void): void {
    const timer = setTimeout(() => {
      this.timers.delete(timer)
      fn()
    }, ms)
    this.timers.add(timer)
  }

  clearTimers (): void {
    for (const timer of this.timers) clearTimeout(timer)
    this.timers.clear()
  }

  snapshotCounters (): Counters & { openStreams: number } {
    return { ...this.counters, requests: { ...this.counters.requests }, openStreams: this.streams.size }
  }

  /** On app close: no SSE response may keep the server from closing. */
  closeAll (): void {
    this.clearTimers()
    for (const res of this.streams) res.destroy()
  }
}
