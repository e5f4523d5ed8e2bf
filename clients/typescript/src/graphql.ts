// GraphQL subscriptions over graphql-transport-ws, through the `graphql-ws` client (a peer
// dependency: install it to use this entry point, `@nemo-gateway/client/graphql`).
import { createClient, type Client, type ClientOptions as WsOptions } from 'graphql-ws'

export interface SubscriptionClientOptions {
  /** The gateway's base URL (http or https; the socket goes to /graphql). */
  baseUrl: string
  token: string
  userId?: string
  /** A WebSocket implementation where there is no global one (Node 20: the `ws` package). */
  webSocketImpl?: unknown
  /** Anything else for graphql-ws's createClient. */
  options?: Partial<WsOptions>
}

/** A graphql-ws client for the gateway, credentials sent in connection_init. */
export function subscriptionClient (opts: SubscriptionClientOptions): Client {
  return createClient({
    url: opts.baseUrl.replace(/^http/, 'ws').replace(/\/+$/, '') + '/graphql',
    connectionParams: { authorization: `Bearer ${opts.token}`, ...(opts.userId !== undefined ? { 'x-user-id': opts.userId } : {}) },
    ...(opts.webSocketImpl !== undefined ? { webSocketImpl: opts.webSocketImpl } : {}),
    ...opts.options
  })
}

/** A subscription's results as an async iterator; errors in a result are thrown. */
export async function * subscribe<T> (client: Client, query: string, variables?: Record<string, unknown>): AsyncGenerator<T> {
  const it = client.iterate<T>({ query, variables })
  try {
    for await (const result of it) {
      if (result.errors !== undefined && result.errors.length > 0) throw new Error(result.errors.map(e => e.message).join('; '))
      yield result.data as T
    }
  } finally {
    await it.return?.(undefined)
  }
}
