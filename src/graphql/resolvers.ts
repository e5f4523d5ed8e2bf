// Resolvers: thin calls into the same domain services REST uses (src/routes/v1), with the
// same argument limits, so the two surfaces cannot disagree. A Session object only ever
// comes from an actor-scoped call (get, list, create), so its fields trust its id.
import type { FastifyBaseLogger } from 'fastify'
import type { IResolvers, MercuriusContext } from 'mercurius'
import type { Domain } from '../domain/index.ts'
import type { SessionEventView } from '../domain/events/index.ts'
import type { SessionView } from '../domain/sessions/index.ts'
import type { TimelineView } from '../domain/sessions/index.ts'
import type { SayResult } from '../domain/turns/index.ts'
import type { RequestActor } from '../domain/common/index.ts'
import { asGraphQLError } from './errors.ts'
import { gwError } from '../errors.ts'
import { eventStream, failedStream } from './event-stream.ts'
import { EVENT_PAGE_LIMIT, PAGE_LIMIT } from '../inputs.ts'
import { eventCursorArg, idempotencyKeyArg, pageArg, pageCursorArg, resolutionArg, sessionInput, textArg, uuidArg } from './inputs.ts'
import type { ExportQuality, ExportStatus } from '../domain/exports/index.ts'
import { DateTime, JSONScalar } from './scalars.ts'

declare module 'mercurius' {
  interface MercuriusContext {
    /** Set from the request headers (HTTP) or the connection_init payload (WebSocket). */
    actor: RequestActor
  }
}

type GatewayContext = MercuriusContext

interface ViewerRoot { actor: RequestActor }
interface PageArgs { first?: number | null, after?: string | null }

const SAY_TYPES: Record<SayResult['action'], string> = {
  export: 'SayExport',
  credits: 'SayCredits',
  state: 'SayState',
  upload: 'SayUpload',
  chat: 'SayChat'
}

/** The timeline as GraphQL shows it: the draft's tracks at the top level of the state. */
function stateView (view: TimelineView): Record<string, unknown> {
  const { timeline, ...rest } = view
  return { ...rest, ...timeline }
}

/** GraphQL enum values cannot hold dots: export_completed <-> export.completed. */
const eventType = (v: string): string => v.replace('_', '.')

function page ({ first, after }: PageArgs): { limit: number, cursor?: string } {
  const cursor = pageCursorArg('after', after)
  return { limit: pageArg('first', first, PAGE_LIMIT.default, PAGE_LIMIT.max), ...(cursor === undefined ? {} : { cursor }) }
}

export function buildResolvers (domain: Domain, log: FastifyBaseLogger): IResolvers<any, GatewayContext> {
  // one for all subscriptions, rather than a closure held by each
  const streamError = (err: unknown) => asGraphQLError(err, log)
  return {
    DateTime,
    JSON: JSONScalar,

    Query: {
      viewer: (_root: unknown, _args: unknown, ctx: GatewayContext): ViewerRoot => ({ actor: ctx.actor }),
      session: async (_root: unknown, args: { id: string }, ctx: GatewayContext) =>
        await domain.sessions.get(ctx.actor, uuidArg('id', args.id)),
      export: async (_root: unknown, args: { id: string }, ctx: GatewayContext) =>
        await domain.exports.get(ctx.actor, uuidArg('id', args.id)),
      exports: async (_root: unknown, args: PageArgs & { sessionId?: string | null, status?: ExportStatus | null }, ctx: GatewayContext) =>
        await domain.exports.list(ctx.actor, {
          ...page(args),
          ...(args.sessionId == null ? {} : { sessionId: uuidArg('sessionId', args.sessionId) }),
          ...(args.status == null ? {} : { status: args.status })
        }),
      webhookEndpoints: async (_root: unknown, args: PageArgs, ctx: GatewayContext) =>
        await domain.webhooks.list(ctx.actor.tenantId, page(args)),
      usage: async (_root: unknown, args: { from?: string | null, to?: string | null, groupBy?: 'DAY' | 'USER' | null, tenantWide?: boolean | null }, ctx: GatewayContext) => {
        if (args.tenantWide === true && ctx.actor.via === 'client-token') {
          throw gwError('GW_ERR_FORBIDDEN', 'A client token sees its own user\'s usage only: the whole tenant\'s needs the API key')
        }
        const actor = args.tenantWide === true ? { tenantId: ctx.actor.tenantId, userId: '' } : ctx.actor
        const view = await domain.usage.report(actor, {
          ...(args.from == null ? {} : { from: args.from }),
          ...(args.to == null ? {} : { to: args.to }),
          groupBy: args.groupBy === 'USER' ? 'user' : 'day'
        })
        return { ...view, scope: view.scope === 'user' ? 'USER' : 'TENANT', groupBy: view.groupBy === 'user' ? 'USER' : 'DAY' }
      }
    },

    Viewer: {
      id: (viewer: ViewerRoot) => viewer.actor.externalUserId,
      credits: async (viewer: ViewerRoot) => await domain.credits.get(viewer.actor),
      sessions: async (viewer: ViewerRoot, args: PageArgs) => await domain.sessions.list(viewer.actor, page(args))
    },

    Session: {
      state: async (session: SessionView, _args: unknown, ctx: GatewayContext) =>
        stateView(await domain.timelines.get(ctx.actor, session.id)),
      lastEventCursor: async (session: SessionView) => (await domain.events.lastCursor(session.id)).toString(),
      webLink: async (session: SessionView, _args: unknown, ctx: GatewayContext) => await domain.sessions.webLink(ctx.actor, session.id),
      turns: async (session: SessionView, args: PageArgs, ctx: GatewayContext) =>
        await domain.turns.list(ctx.actor, session.id, page(args)),
      turn: async (session: SessionView, args: { id: string }, ctx: GatewayContext) =>
        await domain.turns.get(ctx.actor, session.id, uuidArg('id', args.id)),
      events: async (session: SessionView, args: { after?: string | null, limit?: number | null }) => {
        const limit = pageArg('limit', args.limit, EVENT_PAGE_LIMIT.default, EVENT_PAGE_LIMIT.max)
        const items = await domain.events.list(session.id, eventCursorArg('after', args.after), limit)
        const last = items[items.length - 1]
        return { items, nextCursor: items.length === limit && last ? last.cursor : null }
      },
      uploads: async (session: SessionView, args: PageArgs, ctx: GatewayContext) =>
        await domain.uploads.list(ctx.actor, session.id, page(args)),
      exports: async (session: SessionView, args: PageArgs, ctx: GatewayContext) =>
        await domain.exports.list(ctx.actor, { ...page(args), sessionId: session.id })
    },

    SayResult: {
      resolveType: (result: SayResult) => SAY_TYPES[result.action]
    },
    SayState: {
      state: (result: Extract<SayResult, { action: 'state' }>) => stateView(result.state)
    },

    Mutation: {
      createSession: async (_root: unknown, args: { language?: string | null, title?: string | null }, ctx: GatewayContext) =>
        await domain.sessions.create(ctx.actor, sessionInput(args.language, args.title)),
      sendMessage: async (_root: unknown, args: { sessionId: string, text: string }, ctx: GatewayContext) => {
        const { turn } = await domain.turns.start(ctx.actor, uuidArg('sessionId', args.sessionId), textArg('text', args.text))
        return turn
      },
      say: async (_root: unknown, args: { sessionId: string, text: string }, ctx: GatewayContext) =>
        await domain.say.handle(ctx.actor, uuidArg('sessionId', args.sessionId), textArg('text', args.text)),
      startExport: async (_root: unknown, args: { sessionId: string, quality?: ExportQuality | null, resolution?: string | null, idempotencyKey?: string | null }, ctx: GatewayContext) => {
        const resolution = resolutionArg(args.resolution)
        const input = { ...(args.quality == null ? {} : { quality: args.quality }), ...(resolution === undefined ? {} : { resolution }) }
        return await domain.exports.start(ctx.actor, uuidArg('sessionId', args.sessionId), input, idempotencyKeyArg(args.idempotencyKey))
      },
      cancelExport: async (_root: unknown, args: { id: string }, ctx: GatewayContext) =>
        await domain.exports.cancel(ctx.actor, uuidArg('id', args.id)),
      createWebhookEndpoint: async (_root: unknown, args: { url: string, events?: string[] | null, description?: string | null }, ctx: GatewayContext) => {
        const { secret, ...endpoint } = await domain.webhooks.create(ctx.actor.tenantId, {
          url: args.url,
          ...(args.events == null ? {} : { events: args.events.map(eventType) }),
          ...(args.description == null ? {} : { description: args.description })
        })
        return { endpoint, secret }
      },
      updateWebhookEndpoint: async (_root: unknown, args: { id: string, url?: string | null, events?: string[] | null, description?: string | null, enabled?: boolean | null }, ctx: GatewayContext) =>
        await domain.webhooks.update(ctx.actor.tenantId, uuidArg('id', args.id), {
          ...(args.url == null ? {} : { url: args.url }),
          ...(args.events == null ? {} : { events: args.events.map(eventType) }),
          ...(args.description == null ? {} : { description: args.description }),
          ...(args.enabled == null ? {} : { enabled: args.enabled })
        }),
      deleteWebhookEndpoint: async (_root: unknown, args: { id: string }, ctx: GatewayContext) => {
        await domain.webhooks.remove(ctx.actor.tenantId, uuidArg('id', args.id))
        return true
      },
      rotateWebhookSecret: async (_root: unknown, args: { id: string, overlapSeconds?: number | null }, ctx: GatewayContext) => {
        if (args.overlapSeconds != null && (args.overlapSeconds < 0 || args.overlapSeconds > 7 * 24 * 3600)) {
          throw gwError('GW_ERR_VALIDATION', 'overlapSeconds must be between 0 and 604800')
        }
        const { secret, ...endpoint } = await domain.webhooks.rotateSecret(ctx.actor.tenantId, uuidArg('id', args.id), args.overlapSeconds == null ? undefined : args.overlapSeconds * 1000)
        return { endpoint, secret }
      }
    },

    Subscription: {
      sessionEvents: {
        subscribe: async (_root: unknown, args: { sessionId: string, after?: string | null }, ctx: GatewayContext) => {
          try {
            const sessionId = uuidArg('sessionId', args.sessionId)
            const after = eventCursorArg('after', args.after)
            // the cached view (one plain query on a miss): a thousand subscribers may start at once
            const session = await domain.sessions.get(ctx.actor, sessionId)
            return eventStream((signal) => domain.events.follow(session.id, after, signal), streamError)
          } catch (err) {
            // a refusal (not found, a bad cursor) leaves through the stream: thrown from here,
            // mercurius would log the client's mistake as its own failure
            return failedStream(asGraphQLError(err, log))
          }
        },
        resolve: (event: SessionEventView) => event
      }
    }
  }
}
