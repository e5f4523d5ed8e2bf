// The one event type the rest of the gateway sees from a `/run_sse` turn, whichever framing
// the upstream speaks: raw ADK events (contract §4.3) or the `{"type":...}` framing (§4.2,
// plus the sibling WebSocket's names from §4.5). Decisions, so downstream code need not care:
// - thoughts are dropped in every framing: ADK `thought:true` parts, typed frames flagged
//   `thought:true`, and `thought`/`thinking*`/`reasoning` frames; so are `partial:true`
//   events, empty text and `done` frames (the skill never asks for streaming; a final event
//   repeats any partial text anyway);
// - a tool call named `ask_question` (either framing) becomes `ask_question`, not `tool_call`;
// - a non-empty `actions.stateDelta` becomes one `state_delta` after the event's parts, on any
//   event (a content-less callback event is the usual carrier); empty deltas are dropped;
// - `{"error":...}` and `errorCode`/`errorMessage` become `error`; the stream may continue;
// - integers too long for a JS number (numeric ids) arrive as exact strings (json.ts);
// - a frame with ADK `content.parts` is read as ADK whatever its `type` says (an unknown type,
//   or a typed frame wrapping ADK content); unknown fields are ignored, other unknown `type`s
//   and non-JSON data frames are dropped.
import { isObject } from './envelope.ts'
import { parseUpstreamJson } from './json.ts'

export type NemoEvent =
  | { type: 'text', text: string, author?: string }
  | { type: 'tool_call', name: string, id?: string, args: Record<string, unknown> }
  | { type: 'tool_result', name: string, id?: string, result: unknown }
  | { type: 'heartbeat' }
  | { type: 'error', message: string, code?: string | number }
  | { type: 'ask_question', questions: unknown[], id?: string, title?: string }
  | { type: 'state_delta', delta: Record<string, unknown> }

type Json = Record<string, unknown>

const HEARTBEAT: NemoEvent = { type: 'heartbeat' }

/** One SSE `data:` payload -> zero or more events. */
export function eventsFromData (data: string): NemoEvent[] {
  if (data.trim() === '') return [HEARTBEAT]
  let frame: unknown
  try {
    frame = parseUpstreamJson(data)
  } catch {
    return []
  }
  if (!isObject(frame)) return []
  const error = errorOf(frame)
  if (error !== undefined) return [error]
  if (typeof frame.type !== 'string') return adkEvent(frame)
  if (frame.thought === true || THOUGHT_TYPES.has(frame.type)) return []
  if (hasAdkParts(frame) && !TOOL_TYPES.has(frame.type)) return adkEvent(frame)
  return typedFrame(frame)
}

const THOUGHT_TYPES = new Set(['thought', 'thinking', 'thinking_start', 'thinking_chunk', 'thinking_end', 'reasoning'])
const TOOL_TYPES = new Set(['tool_call', 'tool_start', 'toolcall_start', 'tool_result', 'tool_end', 'toolcall_end'])

function hasAdkParts (f: Json): boolean {
  return isObject(f.content) && Array.isArray(f.content.parts)
}

function errorOf (f: Json): NemoEvent | undefined {
  if (f.error !== undefined && f.error !== null && f.type !== 'tool_result') {
    const e = f.error
    if (isObject(e)) {
      return withCode({ type: 'error', message: str(e.message) ?? JSON.stringify(e) }, e.code)
    }
    return withCode({ type: 'error', message: String(e) }, f.code)
  }
  if (f.type === undefined && (f.errorCode !== undefined || f.errorMessage !== undefined)) {
    return withCode({ type: 'error', message: str(f.errorMessage) ?? String(f.errorCode) }, f.errorCode)
  }
  return undefined
}

function withCode (e: { type: 'error', message: string }, code: unknown): NemoEvent {
  return typeof code === 'string' || typeof code === 'number' ? { ...e, code } : e
}

function adkEvent (ev: Json): NemoEvent[] {
  if (ev.partial === true) return []
  const out: NemoEvent[] = []
  const author = str(ev.author)
  const content = isObject(ev.content) ? ev.content : undefined
  const parts = Array.isArray(content?.parts) ? content.parts : []
  for (const part of parts) {
    if (!isObject(part) || part.thought === true) continue
    if (typeof part.text === 'string') {
      if (part.text !== '' && author !== 'user') out.push(author === undefined ? { type: 'text', text: part.text } : { type: 'text', text: part.text, author })
    } else if (isObject(part.functionCall)) {
      out.push(call(part.functionCall))
    } else if (isObject(part.functionResponse)) {
      const r = part.functionResponse
      out.push(withId({ type: 'tool_result', name: str(r.name) ?? 'unknown', result: r.response ?? null }, r.id))
    }
  }
  const actions = isObject(ev.actions) ? ev.actions : undefined
  if (isObject(actions?.stateDelta) && Object.keys(actions.stateDelta).length > 0) {
    out.push({ type: 'state_delta', delta: actions.stateDelta })
  }
  return out
}

function call (fc: Json): NemoEvent {
  const args = isObject(fc.args) ? fc.args : {}
  const name = str(fc.name) ?? 'unknown'
  if (name === 'ask_question') return question(args, fc.id)
  return withId({ type: 'tool_call', name, args }, fc.id)
}

function question (f: Json, id: unknown): NemoEvent {
  const questions = Array.isArray(f.questions) ? f.questions : []
  const title = str(f.title)
  const ev: NemoEvent = title === undefined ? { type: 'ask_question', questions } : { type: 'ask_question', questions, title }
  return withId(ev, id)
}

function typedFrame (f: Json): NemoEvent[] {
  switch (f.type) {
    case 'text': case 'chunk': {
      const text = str(f.content) ?? str(f.text)
      return text === undefined || text === '' ? [] : [{ type: 'text', text }]
    }
    case 'tool_call': case 'tool_start': case 'toolcall_start':
      return [call({ name: toolName(f), args: f.args, id: f.id })]
    case 'tool_result': case 'tool_end': case 'toolcall_end':
      return [withId({ type: 'tool_result', name: toolName(f), result: f.result ?? null }, f.id)]
    case 'heartbeat': case 'ping': case 'pong':
      return [HEARTBEAT]
    case 'error':
      return [withCode({ type: 'error', message: str(f.message) ?? 'upstream error' }, f.code)]
    case 'ask_question':
      return [question(f, f.id)]
    case 'state_delta':
      return isObject(f.delta) ? [{ type: 'state_delta', delta: f.delta }] : []
    default:
      return []
  }
}

function toolName (f: Json): string {
  return str(f.name) ?? str(f.tool) ?? str(f.tool_name) ?? 'unknown'
}

function withId<E extends NemoEvent & { id?: string }> (ev: E, id: unknown): E {
  return typeof id === 'string' && id !== '' ? { ...ev, id } : ev
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' ? v : undefined
}
