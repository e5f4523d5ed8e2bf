// GraphQL (mercurius) at /graphql, SDL first: schema/schema.graphql is read at startup and the
// resolvers in src/graphql call the same domain services as REST.
// HTTP callers send the REST headers; the actor is resolved in a preValidation hook, before
// the rate limiter, so the limit belongs to the API key. Answers follow GraphQL over HTTP:
// `application/graphql-response+json` to a client that asks for it, with that spec's status
// codes, else `application/json` (src/graphql/over-http.ts, errors.ts). WebSocket callers
// (graphql-transport-ws only, with its close codes: src/graphql/transport-ws.ts) send the same
// credentials in connection_init: bad ones close the socket with 4403, or 4429 once the
// address has failed to authenticate too often (plugins/auth.ts). Queries and mutations may
// go over the socket as well.
// mercurius calls `onConnect` as a method of its connection object, whose `socket` is the only
// way to choose the close code (its own refusal closes with no code at all). Subscriptions
// share the app's emitter, so with REDIS_URL events fan out across instances.
// A document's size is checked before it is parsed, and depth and cost before anything runs,
// on both transports (src/graphql/limits.ts; over WebSocket through each connection's gate,
// src/graphql/subscription-gate.ts). The gate also bounds the subscriptions of a connection
// (one more gets an `error` for its id) and onConnect the connections of an API key (one more
// is closed with 4429). Each connection's messages are read with a plain listener
// (src/graphql/connection-messages.ts). Subscribers that send the same document with the same
// variables as the same end user share one execution: one follower, one execution and one
// JSON payload per event for all of them (src/graphql/shared-subscriptions.ts).
import { readFile } from 'node:fs/promises'
import fp from 'fastify-plugin'
import fastifyWebsocket from '@fastify/websocket'
import { domainMetrics } from '../observability/metrics.ts'
import mercurius from 'mercurius'
import { getOperationAST, specifiedRules, validate, type DocumentNode } from 'graphql'
import type { WebSocket } from 'ws'
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify'
import { gwError, isGatewayError } from '../errors.ts'
import { connectionCredentials } from '../graphql/connection.ts'
import type { RequestActor } from '../domain/common/index.ts'
import { errorFormatter, catalogError } from '../graphql/errors.ts'
import { checkDocumentSize, checkLimits } from '../graphql/limits.ts'
import { closeReason, gateSubscriptions, KeyConnections, SubscriptionGate } from '../graphql/subscription-gate.ts'
import { buildResolvers } from '../graphql/resolvers.ts'
import { checkScopes } from '../graphql/scopes.ts'
import { readConnectionMessagesWithListener } from '../graphql/connection-messages.ts'
import { shareSubscriptionExecutions, SharedSubscriptions } from '../graphql/shared-subscriptions.ts'
import { GRAPHQL_RESPONSE_JSON, negotiate } from '../graphql/over-http.ts'
import { GRAPHQL_TRANSPORT_WS, selectProtocol, speakGraphQLTransportWs } from '../graphql/transport-ws.ts'

declare module 'fastify' {
  interface FastifyInstance {
    /** The running shared subscription executions and the subscribers they serve. */
    graphqlShares: SharedSubscriptions
  }
}

const SCHEMA_FILE = new URL('../../schema/schema.graphql', import.meta.url)
/** graphql-transport-ws close codes. */
const CLOSE_FORBIDDEN = 4403
const CLOSE_GOING_AWAY = 1001
const CLOSE_TOO_MANY = 4429
const CLOSE_INTERNAL = 4500
/** RFC 6455 "try again later": failures cannot be counted now (Redis went away after the upgrade, REDIS_DOWN_POLICY=refuse). */
const CLOSE_TRY_AGAIN_LATER = 1013

/** The answer depends on the Accept header: caches must keep one per media type. */
function varyOnAccept (reply: FastifyReply): void {
  const vary = reply.getHeader('vary')
  const given = Array.isArray(vary) ? vary.join(', ') : vary === undefined ? '' : String(vary)
  if (!/(^|,)\s*accept\s*(,|$)/i.test(given)) reply.header('vary', given === '' ? 'Accept' : `${given}, Accept`)
}

async function graphql (fastify: FastifyInstance): Promise<void> {
  const schema = await readFile(SCHEMA_FILE, 'utf8')
  const log = fastify.log.child({ component: 'graphql' })
  const maxDocumentBytes = fastify.config.GRAPHQL_MAX_DOCUMENT_BYTES
  const maxSubscriptions = fastify.config.GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION
  const keyConnections = new KeyConnections(fastify.config.GRAPHQL_MAX_CONNECTIONS_PER_KEY)
  const refused = (reason: string) => { domainMetrics().graphqlRefusals.add(1, { reason }) }
  const shares = new SharedSubscriptions()
  fastify.decorate('graphqlShares', shares)

  async function onConnect (this: unknown, data: { payload: unknown }): Promise<{ actor: RequestActor, gate?: SubscriptionGate, shares?: SharedSubscriptions } | false> {
    const connection = this as { socket?: WebSocket, context?: { address?: string, origin?: string, gate?: unknown } } | undefined
    const socket = connection?.socket
    const { authorization, userId } = connectionCredentials(data.payload)
    let actor: RequestActor
    try {
      actor = await fastify.resolveActor(authorization, userId, connection?.context?.address ?? 'unknown')
      // a browser page: its origin must be one the caller's own tenant allows
      const origin = connection?.context?.origin
      if (origin !== undefined && !await fastify.domain.origins.allowedFor(actor.tenantId, origin)) {
        throw gwError('GW_ERR_ORIGIN_NOT_ALLOWED', `The tenant does not allow the origin ${origin.slice(0, 60)}`)
      }
    } catch (err) {
      const refused = isGatewayError(err) && err.statusCode < 500
      if (refused) {
        log.info({ code: err.code }, 'graphql connection refused')
        if (err.code === 'GW_ERR_RATE_LIMITED') socket?.close(CLOSE_TOO_MANY, closeReason(`Too many failed authentications: ${err.code}: ${err.message}`))
        else socket?.close(CLOSE_FORBIDDEN, closeReason(`Forbidden: ${err.code}: ${err.message}`))
      } else if (isGatewayError(err, 'GW_ERR_UNAVAILABLE')) {
        log.info({ code: err.code }, 'graphql connection refused for now')
        socket?.close(CLOSE_TRY_AGAIN_LATER, closeReason(`Try again later: ${err.code}: ${err.message}`))
      } else {
        log.error({ err }, 'graphql connection could not be authenticated')
        socket?.close(CLOSE_INTERNAL, 'Internal server error')
      }
      return false
    }
    // mercurius asks again for a subscribe that carries a `connectionInit` extension: the
    // connection is counted and gated once
    if (connection?.context?.gate !== undefined) return { actor }
    if (!keyConnections.take(actor.apiKeyId)) {
      refused('connections_per_key')
      log.info({ keyId: actor.keyId }, 'graphql connection refused: too many for the key')
      socket?.close(CLOSE_TOO_MANY, closeReason(`Too many connections: GW_ERR_TOO_MANY_CONNECTIONS: this API key has ${keyConnections.max} open`))
      return false
    }
    domainMetrics().graphqlConnections.add(1)
    socket?.once('close', () => {
      keyConnections.release(actor.apiKeyId)
      domainMetrics().graphqlConnections.add(-1)
    })
    return { actor, gate: new SubscriptionGate({ maxDocumentBytes, maxSubscriptions, refused }), shares }
  }

  // GraphQL describes itself (introspection, GraphiQL): the OpenAPI document stays REST only
  fastify.addHook('onRoute', (route) => {
    if (route.url === '/graphql' || route.url.startsWith('/graphiql')) route.schema = { ...route.schema, hide: true }
  })

  // registered here rather than by mercurius so that a draining gateway closes subscriptions
  // with 1001 (going away): clients reconnect elsewhere and resume with `after: <cursor>`
  await fastify.register(fastifyWebsocket, {
    options: { maxPayload: 1024 * 1024, handleProtocols: selectProtocol },
    preClose: function (this: FastifyInstance, done: () => void) {
      const server = this.websocketServer
      for (const client of server.clients) client.close(CLOSE_GOING_AWAY, 'The gateway is shutting down; reconnect and resume with after')
      server.close()
      done()
    }
  })

  // an idle subscription should cost little: see src/graphql/connection-messages.ts
  readConnectionMessagesWithListener()
  gateSubscriptions()
  speakGraphQLTransportWs()
  shareSubscriptionExecutions()
  await fastify.register(mercurius, {
    schema,
    resolvers: buildResolvers(fastify.domain, log),
    graphiql: fastify.config.GRAPHIQL,
    errorFormatter,
    context: (request) => ({ actor: request.actor }),
    additionalRouteOptions: {
      preValidation: async (request: FastifyRequest) => {
        if ((request as { ws?: boolean }).ws === true) {
          // no credentials yet: an upgrade from a page is let through for an origin some tenant allows
          const origin = request.headers.origin
          if (origin !== undefined && !await fastify.domain.origins.allowedByAny(origin)) {
            throw gwError('GW_ERR_ORIGIN_NOT_ALLOWED', 'No tenant allows this origin')
          }
          return
        }
        // GraphQL over HTTP allows `"extensions": null`; mercurius' body schema does not
        const body = request.body as { extensions?: unknown } | null | undefined
        if (typeof body === 'object' && body !== null && body.extensions === null) delete body.extensions
        await fastify.authenticateTenant(request)
      },
      onSend: async (request: FastifyRequest, reply: FastifyReply, payload: unknown) => {
        // a GraphQL response (errors too, sent as application/json by mercurius or fastify)
        const type = reply.getHeader('content-type')
        if (typeof type === 'string' && type.startsWith('application/json')) {
          varyOnAccept(reply)
          if (negotiate(request.headers.accept) === GRAPHQL_RESPONSE_JSON) reply.header('content-type', `${GRAPHQL_RESPONSE_JSON}; charset=utf-8`)
        }
        return payload
      }
    },
    subscription: {
      emitter: fastify.emitter,
      keepAlive: fastify.config.GRAPHQL_KEEPALIVE_MS,
      // queries and mutations over the socket too (a client may send every operation there)
      fullWsTransport: true,
      // a socket with no subprotocol reaches transport-ws.ts, which closes it with 4406
      wsDefaultSubprotocol: GRAPHQL_TRANSPORT_WS,
      // runs when connection_init arrives, just before onConnect
      // read by onConnect: failed connection_inits count against the client's address; a
      // page's origin must be allowed by the tenant it authenticates as
      context: (_socket, request) => ({ address: request.ip, ...(request.headers.origin === undefined ? {} : { origin: request.headers.origin }) }),
      onConnect
    }
  })

  // HTTP only (a WebSocket document is parsed before any hook: its gate checks it)
  fastify.graphql.addHook('preParsing', async (_schema, source) => {
    const tooLarge = checkDocumentSize(source, maxDocumentBytes)
    if (tooLarge) {
      refused('document_size')
      throw tooLarge
    }
  })

  // a query or mutation over the WebSocket counts toward its key's rate limit as a request
  // does (the same counters in Redis; without Redis, counted apart from HTTP on each instance)
  const socketOperations = fastify.windowCounts('ngw-rl-')
  const { RATE_LIMIT_MAX, RATE_LIMIT_WINDOW_MS } = fastify.config

  fastify.graphql.addHook('preExecution', async (schema, document, context, variables) => {
    // HTTP requests, and queries and mutations over the WebSocket (no reply); subscriptions go
    // through preSubscriptionExecution. A subscription here has no stream to answer on.
    const request = context.reply?.request
    const actor = (context as { actor?: RequestActor }).actor
    if (request === undefined && actor !== undefined) {
      const { count, ttlMs } = await socketOperations.add(actor.apiKeyId, RATE_LIMIT_WINDOW_MS)
      if (count > RATE_LIMIT_MAX) {
        const retryAfter = Math.ceil(ttlMs / 1000)
        throw catalogError('GW_ERR_RATE_LIMITED', `Rate limit of ${RATE_LIMIT_MAX} requests exceeded for this API key; retry in ${retryAfter} s`, { retryAfter, limit: RATE_LIMIT_MAX })
      }
    }
    const operationName = (request?.body as { operationName?: unknown } | undefined)?.operationName ??
      (request?.query as { operationName?: unknown } | undefined)?.operationName
    const operation = getOperationAST(document, typeof operationName === 'string' ? operationName : undefined)
    if (operation?.operation === 'subscription') {
      throw catalogError('GW_ERR_BAD_REQUEST', 'Subscriptions run over the WebSocket at /graphql (graphql-transport-ws), not over HTTP')
    }
    const exceeded = checkLimits(schema, document, variables as Record<string, unknown> | undefined)
    if (exceeded) throw exceeded
    scoped(schema, document, context.actor)
  })

  // mercurius runs subscription documents without validating them: do it here
  // (a document that passed once passes again: subscribers of one text share its parsed
  // document, subscription-gate.ts, so 1,000 of them validate it once; the scopes are per actor)
  const passed = new WeakSet<DocumentNode>()
  fastify.graphql.addHook('preSubscriptionExecution', async (schema, document, context) => {
    if (!passed.has(document)) {
      const [invalid] = validate(schema, document, specifiedRules)
      if (invalid) throw catalogError('GW_ERR_VALIDATION', invalid.message)
      const exceeded = checkLimits(schema, document)
      if (exceeded) throw exceeded
      passed.add(document)
    }
    scoped(schema, document, context.actor)
  })

  /** The credential's scopes against the document's fields: the REST rule, per field. */
  function scoped (schema: Parameters<typeof checkScopes>[0], document: Parameters<typeof checkScopes>[1], actor: RequestActor | undefined): void {
    try {
      checkScopes(schema, document, actor)
    } catch (err) {
      if (isGatewayError(err)) throw catalogError(err.code, err.message, err.extensions)
      throw err
    }
  }

  // GraphiQL is off by default: say how to turn it on rather than a bare "no such route"
  if (!fastify.config.GRAPHIQL) {
    fastify.get('/graphiql', { schema: { hide: true } }, async () => {
      throw gwError('GW_ERR_ROUTE_NOT_FOUND', 'GraphiQL is off on this gateway: start it with GRAPHIQL=true to serve it at /graphiql (POST /graphql works either way)', {
        extensions: { setting: 'GRAPHIQL' }
      })
    })
  }
}

export default fp(graphql, { name: 'graphql', dependencies: ['auth', 'domain', 'pubsub'] })
