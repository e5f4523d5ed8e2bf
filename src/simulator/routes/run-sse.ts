// POST /run_sse (contract §3.4, §4). Request checks mimic ADK on FastAPI: a body that does not fit
// RunAgentRequest is a 422 with pydantic-style `detail`, an unknown session is a 404 before any
// byte is streamed. Then the turn's script plays on the raw response, and every way a stream can
// end (done, client abort, server drop, app close) releases the credits it froze and leaves
// `openStreams`.
import type { ServerResponse } from 'node:http'
import { setTimeout as sleep } from 'node:timers/promises'
import type { FastifyPluginAsync } from 'fastify'
import { heartbeatFrame, newInvocation, renderEvent, type Invocation } from '../agent-events.ts'
import type { SimContext } from '../context.ts'
import { fail, guard, userOf } from '../guard.ts'
import { buildScript, pickScenario, SENT_AT, type Script, type Step } from '../scenarios.ts'
import type { SimSession, SimUser } from '../state.ts'

interface RunRequest { app_name?: string, user_id: string, session_id: string, texts: string[] }

type Detail = Array<{ type: string, loc: Array<string | number>, msg: string, input: unknown }>

/** ADK's models accept snake_case and camelCase alike (alias_generator=to_camel). */
function field (body: Record<string, unknown>, snake: string): unknown {
  const camel = snake.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase())
  return body[snake] ?? body[camel]
}

function parseRunRequest (body: unknown): RunRequest | Detail {
  if (typeof body !== 'object' || body === null || Array.isArray(body)) {
    return [{ type: 'model_attributes_type', loc: ['body'], msg: 'Input should be a valid dictionary or object to extract fields from', input: body ?? null }]
  }
  const b = body as Record<string, unknown>
  const detail: Detail = []
  for (const name of ['user_id', 'session_id']) {
    const value = field(b, name)
    if (value === undefined) detail.push({ type: 'missing', loc: ['body', name], msg: 'Field required', input: body })
    else if (typeof value !== 'string') detail.push({ type: 'string_type', loc: ['body', name], msg: 'Input should be a valid string', input: value })
  }
  const appName = field(b, 'app_name')
  if (appName !== undefined && typeof appName !== 'string') {
    detail.push({ type: 'string_type', loc: ['body', 'app_name'], msg: 'Input should be a valid string', input: appName })
  }
  const message = field(b, 'new_message')
  const parts = (message as { parts?: unknown } | undefined)?.parts
  if (message === undefined) {
    detail.push({ type: 'missing', loc: ['body', 'new_message'], msg: 'Field required', input: body })
  } else if (typeof message !== 'object' || message === null || (parts !== undefined && parts !== null && !Array.isArray(parts))) {
    detail.push({ type: 'model_attributes_type', loc: ['body', 'new_message'], msg: 'Input should be a valid dictionary or object to extract fields from', input: message })
  }
  if (detail.length > 0) return detail
  const texts = (Array.isArray(parts) ? parts : [])
    .map((p: unknown) => (p as { text?: unknown } | null)?.text)
    .filter((t): t is string => typeof t === 'string')
  return {
    app_name: appName as string | undefined,
    user_id: field(b, 'user_id') as string,
    session_id: field(b, 'session_id') as string,
    texts
  }
}

/** Wall-clock ms with sub-ms precision, comparable across the processes of one machine. */
function stamp (frame: string): string {
  return frame.replace(SENT_AT, (performance.timeOrigin + performance.now()).toFixed(3))
}

interface Turn { ctx: SimContext, res: ServerResponse, session: SimSession, user: SimUser, script: Script, inv: Invocation }

async function play (turn: Turn): Promise<void> {
  const { ctx, res, session, user, script, inv } = turn
  const ac = new AbortController()
  const { signal } = ac
  res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache', connection: 'keep-alive' })
  ctx.streams.add(res)
  res.on('close', () => {
    ctx.streams.delete(res)
    ac.abort()
  })
  let frozen = script.cost
  const commit = (step: Extract<Step, { kind: 'commit' }>) => {
    ctx.state.spend(user, step.cost)
    frozen -= step.cost
    step.apply(session)
    session.version++
  }
  const write = (frames: string[]) => {
    signal.throwIfAborted()
    for (const f of frames) res.write(f)
  }
  const step = () => sleep(ctx.options.stepDelayMs, undefined, { signal })
  let handedOver = false
  try {
    for (const [index, s] of script.steps.entries()) {
      if (s.kind === 'commit') {
        commit(s)
      } else if (s.kind === 'silence') {
        await sleep(s.ms, undefined, { signal })
      } else if (s.kind === 'heartbeats') {
        const end = Date.now() + s.ms
        write([heartbeatFrame(ctx.options.heartbeat)])
        for (let left = s.ms; left > 0; left = end - Date.now()) {
          await sleep(Math.min(ctx.options.heartbeatIntervalMs, left), undefined, { signal })
          if (Date.now() < end) write([heartbeatFrame(ctx.options.heartbeat)])
        }
      } else if (s.kind === 'cut') {
        await step()
        const frame = renderEvent(s.event, ctx.options.framing, inv)[0] ?? 'data: {"type":"text","content":"..."}\n\n'
        handedOver = true
        const rest = script.steps.slice(index + 1)
        ctx.later(ctx.options.generationMs, () => {
          for (const r of rest) if (r.kind === 'commit') commit(r)
          ctx.state.release(user, frozen)
        })
        res.write(frame.slice(0, Math.floor(frame.length / 2)), () => res.destroy())
        return
      } else {
        const frames = s.kind === 'state'
          ? renderEvent({ kind: 'state', stateDelta: { draft_version: session.version } }, ctx.options.framing, inv)
          : renderEvent(s.event, ctx.options.framing, inv)
        if (frames.length === 0) continue
        await step()
        write(s.kind === 'event' && s.stamp === true ? frames.map(stamp) : frames)
      }
    }
  } catch (err) {
    if (!signal.aborted) res.destroy(err as Error)
  } finally {
    if (!handedOver) {
      ctx.state.release(user, frozen)
      if (!res.destroyed) res.end()
    }
  }
}

const runSseRoutes: FastifyPluginAsync<{ ctx: SimContext }> = async (app, { ctx }) => {
  app.post('/run_sse', { onRequest: guard(ctx, 'run-sse', { auth: true }) }, async (request, reply) => {
    const user = userOf(request)
    const run = parseRunRequest(request.body)
    if (Array.isArray(run)) return reply.code(422).send({ detail: run })
    // ADK keys sessions by (app, user, session): any mismatch is simply "not found".
    const session = ctx.state.sessionOf(user, run.session_id)
    const sameUser = run.user_id === 'me' || run.user_id === user.userId
    const sameApp = run.app_name === undefined || run.app_name === 'nemo_agent'
    if (session === undefined || !sameUser || !sameApp) return reply.code(404).send({ detail: 'Session not found' })

    const text = run.texts.join('\n')
    const rng = ctx.state.rng
    const script = buildScript(pickScenario(text, ctx.options, rng), { session, text, options: ctx.options, rng })
    if (!ctx.state.freeze(user, script.cost)) return fail(2001, 'insufficient credits')
    reply.hijack()
    await play({ ctx, res: reply.raw, session, user, script, inv: newInvocation(rng) })
  })
}

export default runSseRoutes
