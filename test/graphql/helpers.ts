// GraphQL over HTTP as a tenant's end user, and the waits the subscription tests share.
import type { LightMyRequestResponse } from 'fastify'
import type { TestGateway, TestTenant } from '../helpers/app.ts'

export interface GqlResponse {
  status: number
  headers: LightMyRequestResponse['headers']
  body: { data?: Record<string, any> | null, errors?: Array<{ message: string, path?: string[], extensions: Record<string, any> }> }
}

/** GraphQL over HTTP's own media type: asked for, a request error is a 4xx (as REST's). */
export const GRAPHQL_RESPONSE = 'application/graphql-response+json'

/** POST /graphql; with no `accept`, as a client that sends no Accept (so application/json). */
export async function gql (tenant: TestTenant, userId: string, query: string, variables?: Record<string, unknown>, accept?: string): Promise<GqlResponse> {
  const res = await tenant.as(userId, { method: 'POST', url: '/graphql', payload: { query, variables }, headers: accept === undefined ? {} : { accept } })
  return { status: res.statusCode, headers: res.headers, body: res.json() }
}

export async function until (check: () => Promise<boolean> | boolean, what: string, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`)
    await new Promise(resolve => setTimeout(resolve, 10))
  }
}

/** Waits until no turn of the session runs and the simulator holds no stream open. */
export async function settled (gw: TestGateway, tenant: TestTenant, userId: string, sessionId: string): Promise<void> {
  await until(async () => {
    const res = await gql(tenant, userId, 'query ($id: ID!) { session(id: $id) { turns(first: 100) { items { status } } } }', { id: sessionId })
    const items = res.body.data?.session?.turns.items as Array<{ status: string }> | undefined
    return items !== undefined && items.every(turn => turn.status !== 'running')
  }, 'the turn to finish')
  await until(async () => (await gw.sim.counters()).openStreams === 0, 'the upstream streams to close')
}
