// A gateway with fast export polls and webhook retries, a tenant, a user with an editing
// session whose timeline has something to render, and a verifying webhook receiver.
import type { Test } from 'tap'
import { buildGateway, type GatewayOptions, type TestGateway, type TestTenant } from './app.ts'
import { startReceiver, type Receiver } from './receiver.ts'
import { waitFor } from './sse.ts'

export const FAST_EXPORTS = {
  EXPORT_POLL_INITIAL_MS: 100,
  EXPORT_POLL_MAX_MS: 200,
  JOBS_POLL_INTERVAL_MS: 500,
  WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8',
  WEBHOOK_RETRY_SCHEDULE: '100ms,200ms,300ms',
  WEBHOOK_POLL_MS: 50
}

export const FAST_SIM = { stepDelayMs: 1, generationMs: 20, heartbeatIntervalMs: 10, renderDurationMs: 300 }

export interface ExportCtx {
  gw: TestGateway
  acme: TestTenant
  session: { id: string }
  receiver: Receiver
  endpoint: { id: string, secret: string }
}

/** A session whose draft can be rendered: one generation turn, run to its end. */
export async function renderableSession (tenant: TestTenant, user: string): Promise<{ id: string }> {
  const session = (await tenant.as(user, { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const turn = (await tenant.as(user, { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:generation] make a video of a city' } })).json()
  await waitFor(async () => (await tenant.as(user, { method: 'GET', url: `/v1/sessions/${session.id}/turns/${turn.id}` })).json(), (t: any) => t.status !== 'running')
  return session
}

export async function exportSetup (t: Test, opts: GatewayOptions & { endpoint?: boolean } = {}): Promise<ExportCtx> {
  const gw = await buildGateway(t, { contract: true, ...opts, sim: { ...FAST_SIM, ...opts.sim }, config: { ...FAST_EXPORTS, ...opts.config } })
  const acme = await gw.tenant('acme')
  const receiver = await startReceiver(t)
  let endpoint = { id: '', secret: '' }
  if (opts.endpoint !== false) {
    const res = await acme.as('alice', { method: 'POST', url: '/v1/webhooks/endpoints', payload: { url: receiver.url, description: 'tests' } })
    if (res.statusCode !== 201) throw new Error(`endpoint create failed: ${res.body}`)
    endpoint = res.json()
    gw.secret(endpoint.secret)
    receiver.secrets.push(endpoint.secret)
  }
  const session = await renderableSession(acme, 'alice')
  return { gw, acme, session, receiver, endpoint }
}

/** Waits until the export leaves queued/rendering and returns it. */
export async function settled (tenant: TestTenant, user: string, id: string, timeoutMs = 20_000): Promise<any> {
  // a problem document (e.g. a restarting gateway's 503) is not an answer: keep asking
  return await waitFor(async () => (await tenant.as(user, { method: 'GET', url: `/v1/exports/${id}` })).json(),
    (e: any) => typeof e.status === 'string' && e.status !== 'queued' && e.status !== 'rendering', timeoutMs)
}
