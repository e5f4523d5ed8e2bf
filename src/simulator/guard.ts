// The per-route onRequest hook every upstream route goes through, in the order a real edge
// would apply them: count the call, play a queued fault, add latency, then check the bearer token.
// Faults come first so a test can break any endpoint, even one that would fail auth anyway.
import { STATUS_CODES } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyReply, FastifyRequest, onRequestAsyncHookHandler } from 'fastify'
import type { EndpointName, Fault, SimContext } from './context.ts'
import type { SimUser } from './state.ts'

const users = new WeakMap<FastifyRequest, SimUser>()

/** The authenticated user of a request that passed a guard with `auth: true`. */
export function userOf (request: FastifyRequest): SimUser {
  const user = users.get(request)
  if (user === undefined) throw new Error('userOf() on a route without auth')
  return user
}

/** The business envelope of contract §2.5. */
export function ok<T> (data: T): { code: 0, message: string, data: T } {
  return { code: 0, message: 'success', data }
}

export function fail (code: number, message: string): { code: number, message: string, data: null } {
  return { code, message, data: null }
}

/** Each upstream family answers errors in its own envelope (contract §2.5). */
function defaultErrorBody (endpoint: EndpointName, status: number, message: string): unknown {
  if (endpoint.startsWith('render-') || endpoint === 'download') return { success: false, error: message }
  if (endpoint === 'run-sse') return { detail: message }
  return fail(status, message)
}

async function playFault (fault: Fault, endpoint: EndpointName, request: FastifyRequest, reply: FastifyReply): Promise<boolean> {
  if (fault.delayMs !== undefined && fault.delayMs > 0) await sleep(fault.delayMs)
  if (fault.destroy === true) {
    reply.hijack()
    request.raw.socket.destroy()
    return true
  }
  if (fault.headers !== undefined) reply.headers(fault.headers)
  if (fault.body === undefined && fault.code === undefined && fault.status === undefined) return false
  const status = fault.status ?? 200
  let body = fault.body
  if (body === undefined) {
    body = fault.code !== undefined
      ? fail(fault.code, fault.message ?? 'simulated error')
      : defaultErrorBody(endpoint, status, fault.message ?? STATUS_CODES[status] ?? 'error')
  }
  reply.code(status).send(body)
  return true
}

export function guard (ctx: SimContext, endpoint: EndpointName, opts: { auth: boolean }): onRequestAsyncHookHandler {
  return async function simGuard (request, reply) {
    ctx.counters.requests[endpoint]++
    ctx.recordRequest(endpoint, request.headers.traceparent)
    const fault = ctx.takeFault(endpoint)
    if (fault !== undefined && await playFault(fault, endpoint, request, reply)) return reply
    // SSE latency is modelled by stepDelayMs instead: a fixed delay before the first byte would
    // only make every streaming test slower.
    if (endpoint !== 'run-sse' && ctx.options.latencyMs > 0) await sleep(ctx.options.latencyMs)
    if (!opts.auth) return
    const auth = ctx.state.authenticate(request.headers.authorization)
    if (!auth.ok) {
      reply.code(ctx.options.authErrorStatus).send(fail(1001, auth.message))
      return reply
    }
    users.set(request, auth.user)
  }
}
