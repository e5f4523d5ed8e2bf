// The session pool: a gateway session maps to one upstream session (session_id + task_id)
// pinned to the credential that created it. When the upstream forgets a session (1002) a new
// one is opened in its place, the old state snapshot is kept, and `session.reset` is logged.
import type { Prisma, Session as SessionRow } from '../../generated/prisma/client.ts'
import { gwError } from '../../errors.ts'
import { NemoError } from '../../nemo/errors.ts'
import type { Credentials, Lease } from '../tokens/index.ts'
import { after, pageOf, TtlCache, type Page } from '../common/index.ts'
import type { Actor, CacheSync, DomainDeps } from '../common/index.ts'
import type { SessionEvents } from '../events/index.ts'
import type { SessionView, WebLinkView } from '../../schemas/session.ts'
export type { SessionView, WebLinkView } from '../../schemas/session.ts'

type ViewColumns = 'id' | 'title' | 'language' | 'upstreamSessionId' | 'upstreamTaskId' | 'resetCount' | 'createdAt' | 'updatedAt'

// the view's columns, timestamps read as the UTC instants Prisma writes
const SESSION_READ = `SELECT id, "tenantId", "userId", title, language, "upstreamSessionId", "upstreamTaskId", "resetCount",
  "createdAt" AT TIME ZONE 'UTC' AS "createdAt", "updatedAt" AT TIME ZONE 'UTC' AS "updatedAt"
  FROM "Session" WHERE id = $1::uuid`

function sessionView (s: Pick<SessionRow, ViewColumns>): SessionView {
  return {
    id: s.id,
    title: s.title,
    language: s.language,
    upstreamSessionId: s.upstreamSessionId,
    upstreamTaskId: s.upstreamTaskId,
    resetCount: s.resetCount,
    createdAt: s.createdAt,
    updatedAt: s.updatedAt
  }
}

/** The link that opens the session in Nemo's web editor (contract §3.2, v1.9 claim link). */

/** A cached link is handed out only while it has at least this long left. */
const WEB_LINK_MIN_LEFT_MS = 60 * 60 * 1000

/** What a call on a session gets: the token to use and the upstream session id. */
export interface SessionContext {
  session: SessionRow
  lease: Lease
  upstreamSessionId: string
}

/** A client token bound to some sessions does not see the others: they are as unknown as none. */
export function outOfBounds (actor: Actor, sessionId: string): boolean {
  return actor.sessionIds !== undefined && !actor.sessionIds.includes(sessionId)
}

/** A cached session view and whose it is (the read answers 404 to anyone else). */
interface CachedView { tenantId: string, userId: string, view: SessionView }

export class Sessions {
  /** Claim links by session and upstream session: a claim token is reusable for its lifetime. */
  private readonly webLinks = new Map<string, WebLinkView>()
  /**
   * Session views by id, for the read on every poll of a session. Every write of a session row
   * goes through this class and deletes its entry here and on every other instance
   * (`CacheSync`); a deleted user's or tenant's sessions go with the `users` change;
   * HOT_CACHE_TTL_MS bounds a lost message. A miss (an unknown id) is never cached.
   */
  private readonly views: TtlCache<CachedView | null>

  constructor (
    private readonly deps: DomainDeps,
    private readonly credentials: Credentials,
    private readonly events: SessionEvents,
    private readonly caches: CacheSync
  ) {
    this.views = new TtlCache(deps.config.HOT_CACHE_TTL_MS)
    caches.onChange((change) => {
      if (change.kind === 'session') this.views.delete(change.sessionId)
      else if (change.kind === 'users') this.views.clear()
    })
  }

  /** A session row was written: its cached view goes, here and on every instance. */
  private changed (sessionId: string): void {
    this.caches.changed({ kind: 'session', sessionId })
  }

  async create (actor: Actor, input: { language?: string, title?: string }): Promise<SessionView> {
    const lease = await this.credentials.acquire(actor, { forNewSession: true })
    let used = lease
    const upstream = await this.credentials.withToken(actor, lease, async (l) => {
      used = l
      return await this.deps.nemo.createSession(l.token, { language: input.language })
    }, async () => await this.credentials.acquire(actor, { forNewSession: true }))
    await this.learnUpstreamUser(used, upstream.userId)
    const row = await this.deps.prisma.session.create({
      data: {
        tenantId: actor.tenantId,
        userId: actor.userId,
        credentialId: used.credentialId,
        upstreamSessionId: upstream.sessionId,
        upstreamTaskId: upstream.taskId ?? null,
        title: input.title ?? null,
        language: input.language ?? null
      }
    })
    return sessionView(row)
  }

  /**
   * The mint may not say who the upstream user is (examples elide user_id since c74ec3b);
   * create-session does, and the 2001 `register?bind=` link needs it.
   */
  private async learnUpstreamUser (lease: Lease, upstreamUserId: string | undefined): Promise<void> {
    if (lease.upstreamUserId !== null || upstreamUserId === undefined || upstreamUserId === '') return
    await this.deps.prisma.credential.updateMany({ where: { id: lease.credentialId, upstreamUserId: null }, data: { upstreamUserId } })
    this.credentials.forget()
    lease.upstreamUserId = upstreamUserId
  }

  /** The actor's session, or 404: another tenant's or user's id is indistinguishable from none. */
  async getRow (actor: Actor, id: string): Promise<SessionRow> {
    const row = outOfBounds(actor, id) ? null : await this.deps.prisma.session.findFirst({ where: { id, tenantId: actor.tenantId, userId: actor.userId } })
    if (!row) throw gwError('GW_ERR_NOT_FOUND', `Session ${id} not found`)
    return row
  }

  /**
   * The session's view: cached (see `views`), else one indexed query for the columns the view
   * shows (not the timeline snapshots).
   */
  async get (actor: Actor, id: string): Promise<SessionView> {
    if (outOfBounds(actor, id)) throw gwError('GW_ERR_NOT_FOUND', `Session ${id} not found`)
    const key = id.toLowerCase()
    const cached = await this.views.load(key, async () => {
      // plain SQL: this read is on every poll of a session (bench/README.md has what Prisma costs)
      const [row] = await this.deps.sql.prepared<SessionView & { tenantId: string, userId: string }>('gw_read_session', SESSION_READ, [key])
      return row === undefined ? null : { tenantId: row.tenantId, userId: row.userId, view: sessionView(row) }
    }, (found) => found !== null)
    if (cached === null || cached.tenantId !== actor.tenantId || cached.userId !== actor.userId) throw gwError('GW_ERR_NOT_FOUND', `Session ${id} not found`)
    return cached.view
  }

  async list (actor: Actor, opts: { cursor?: string, limit: number }): Promise<Page<SessionView>> {
    const rows = await this.deps.prisma.session.findMany({
      where: { tenantId: actor.tenantId, userId: actor.userId, ...(actor.sessionIds === undefined ? {} : { id: { in: [...actor.sessionIds] } }), OR: after(opts.cursor, 'createdAt') },
      orderBy: [{ createdAt: 'desc' }, { id: 'desc' }],
      take: opts.limit + 1
    })
    return pageOf(rows, opts.limit, r => r.createdAt, sessionView)
  }

  /**
   * The `.../workspace/claim?ct=<claim_token>` link to continue the session in the web app.
   * Never a link carrying the upstream token itself (the web app no longer accepts `token=`,
   * and the token is a secret). Cached for the claim token's lifetime.
   */
  async webLink (actor: Actor, id: string): Promise<WebLinkView> {
    return await this.withSession(actor, id, async ({ session, lease, upstreamSessionId }) => {
      const key = `${session.id}:${upstreamSessionId}`
      const cached = this.webLinks.get(key)
      if (cached && cached.expiresAt.getTime() - Date.now() > WEB_LINK_MIN_LEFT_MS) return cached
      const claim = await this.deps.nemo.claimToken(lease.token, { taskId: session.upstreamTaskId ?? '', sessionId: upstreamSessionId })
      const link = { url: claim.claimUrl, expiresAt: new Date(Date.now() + claim.expiresInSec * 1000) }
      this.webLinks.set(key, link)
      if (this.webLinks.size > 10_000) this.webLinks.delete(this.webLinks.keys().next().value!)
      return link
    }, { mint: false })
  }

  /** Saves the latest upstream state so later silent edits can be diffed against it. */
  async saveSnapshot (id: string, snapshot: unknown): Promise<void> {
    await this.deps.prisma.session.update({ where: { id }, data: { snapshot: snapshot as Prisma.InputJsonValue } })
    this.changed(id)
  }

  /**
   * Runs an upstream call on a session with its pinned token. A rejected token (1001) is
   * replaced and the call retried once; a forgotten session (1002) is reopened upstream and
   * the call retried once. `mint: false` (reads): a dead token is replaced only by one the
   * user already has, never by a new mint; without one the read answers 503 and the next
   * action mints.
   */
  async withSession<T> (actor: Actor, sessionId: string, call: (ctx: SessionContext) => Promise<T>, opts: { mint?: boolean, row?: SessionRow } = {}): Promise<T> {
    // `row`: the caller read the session a moment ago (a turn's start) and hands it over
    let session = opts.row?.id === sessionId ? opts.row : await this.getRow(actor, sessionId)
    const replacement = async (): Promise<Lease> => opts.mint === false ? await this.existingLease(actor, session) : await this.repin(actor, session)
    let lease = await this.credentials.usableLease(session.credentialId) ?? await replacement()
    const run = async (l: Lease): Promise<T> => {
      if (l.credentialId !== session.credentialId) {
        session = await this.deps.prisma.session.update({ where: { id: session.id }, data: { credentialId: l.credentialId } })
        this.changed(session.id)
      }
      lease = l
      return await call({ session, lease: l, upstreamSessionId: session.upstreamSessionId })
    }
    const reacquire = opts.mint === false ? replacement : undefined
    try {
      return await this.credentials.withToken(actor, lease, run, reacquire)
    } catch (err) {
      if (!(err instanceof NemoError && err.kind === 'session_not_found')) throw err
      session = await this.reset(actor, session, lease)
      return await this.credentials.withToken(actor, lease, run, reacquire)
    }
  }

  /** A token the user already holds, for a read: never a new mint. */
  private async existingLease (actor: Actor, session: SessionRow): Promise<Lease> {
    const current = await this.credentials.current(actor)
    if (current === null || !(current.state === 'active' || current.state === 'expiring' || current.state === 'exhausted')) {
      throw gwError('GW_ERR_NO_CREDENTIAL', 'The user\'s upstream token has expired and a read never mints a new one: the next action on the session (a turn, an upload, an export) does', {
        extensions: { reason: 'token_expired' }
      })
    }
    if (current.lease.credentialId !== session.credentialId) {
      await this.deps.prisma.session.update({ where: { id: session.id }, data: { credentialId: current.lease.credentialId } })
      this.changed(session.id)
    }
    return current.lease
  }

  private async repin (actor: Actor, session: SessionRow): Promise<Lease> {
    const lease = await this.credentials.acquire(actor, { forNewSession: false })
    await this.deps.prisma.session.update({ where: { id: session.id }, data: { credentialId: lease.credentialId } })
    this.changed(session.id)
    return lease
  }

  /** Opens a new upstream session in place of one the upstream no longer knows. */
  async reset (actor: Actor, session: SessionRow, lease: Lease): Promise<SessionRow> {
    const upstream = await this.credentials.withToken(actor, lease, async (l) =>
      await this.deps.nemo.createSession(l.token, { language: session.language ?? undefined }))
    await this.learnUpstreamUser(lease, upstream.userId)
    const previous = Array.isArray(session.previousSnapshots) ? session.previousSnapshots : []
    const kept = session.snapshot === null
      ? previous
      : [...previous, { upstreamSessionId: session.upstreamSessionId, snapshot: session.snapshot, replacedAt: new Date().toISOString() }].slice(-5)
    const updated = await this.deps.prisma.session.update({
      where: { id: session.id },
      data: {
        upstreamSessionId: upstream.sessionId,
        upstreamTaskId: upstream.taskId ?? null,
        credentialId: lease.credentialId,
        previousSnapshots: kept as Prisma.InputJsonValue,
        resetCount: { increment: 1 }
      }
    })
    this.changed(session.id)
    await this.events.append(session.id, 'session.reset', {
      reason: 'The upstream no longer knew the session (code 1002); a new upstream session replaces it',
      previousUpstreamSessionId: session.upstreamSessionId,
      upstreamSessionId: upstream.sessionId,
      snapshotKept: session.snapshot !== null
    })
    this.deps.log.warn({ sessionId: session.id }, 'upstream session was reset')
    return updated
  }
}
