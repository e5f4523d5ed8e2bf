// Wire rendering of agent events. Scenarios describe what the agent does; this file alone knows
// how it looks on the wire, in the two framings the contract leaves open (§4.2 vs §4.3, §9 q1).
// ADK events are built key by key in the order ADK's pydantic model dumps them (the verbatim
// /run_sse example in contract §4.3) so byte-level parsers meet the real shape.
import type { SimulatorOptions } from './config.ts'
import type { Prng } from './prng.ts'

const AGENT_NAME = 'nemo_agent'

type AgentPart =
  | { text: string, thought?: boolean }
  | { functionCall: { id: string, args: Record<string, unknown>, name: string } }
  | { functionResponse: { id: string, name: string, response: Record<string, unknown> } }

export type AgentEvent =
  | { kind: 'content', role: 'model' | 'user', parts: AgentPart[], longRunningToolIds?: string[] }
  /** A content-less event carrying only actions.stateDelta (ADK callbacks emit these). */
  | { kind: 'state', stateDelta: Record<string, unknown> }
  | { kind: 'error', message: string }

/** One turn's identity: every event of a turn shares the invocationId. */
export interface Invocation { invocationId: string, rng: Prng }

export function newInvocation (rng: Prng): Invocation {
  return { invocationId: 'e-' + rng.uuid(), rng }
}

export function textEvent (text: string): AgentEvent {
  return { kind: 'content', role: 'model', parts: [{ text }] }
}

export function callEvent (id: string, name: string, args: Record<string, unknown>, longRunning = false): AgentEvent {
  return {
    kind: 'content',
    role: 'model',
    parts: [{ functionCall: { id, args, name } }],
    longRunningToolIds: longRunning ? [id] : []
  }
}

/** ADK puts tool results in role "user" events authored by the agent. */
export function resultEvent (id: string, name: string, response: Record<string, unknown>): AgentEvent {
  return { kind: 'content', role: 'user', parts: [{ functionResponse: { id, name, response } }] }
}

function adkJson (event: AgentEvent, inv: Invocation): string {
  if (event.kind === 'error') return JSON.stringify({ error: event.message })
  const actions = {
    stateDelta: event.kind === 'state' ? event.stateDelta : {},
    artifactDelta: {},
    requestedAuthConfigs: {}
  }
  const out: Record<string, unknown> = {}
  if (event.kind === 'content') out.content = { parts: event.parts, role: event.role }
  out.invocationId = inv.invocationId
  out.author = AGENT_NAME
  out.actions = actions
  if (event.kind === 'content' && event.longRunningToolIds !== undefined) out.longRunningToolIds = event.longRunningToolIds
  out.id = inv.rng.alnum(8)
  out.timestamp = Date.now() / 1000
  return JSON.stringify(out)
}

/**
 * §4.2 has no place for bare state deltas, so those vanish in typed framing; a thought goes
 * out as a text frame flagged `thought:true`, which a client must hide.
 */
function typedJson (event: AgentEvent): string[] {
  if (event.kind === 'error') return [JSON.stringify({ type: 'error', error: event.message })]
  if (event.kind === 'state') return []
  const out: string[] = []
  for (const part of event.parts) {
    if ('text' in part) {
      out.push(JSON.stringify(part.thought === true ? { type: 'text', content: part.text, thought: true } : { type: 'text', content: part.text }))
    } else if ('functionCall' in part) {
      out.push(JSON.stringify({ type: 'tool_call', name: part.functionCall.name, args: part.functionCall.args }))
    } else {
      out.push(JSON.stringify({ type: 'tool_result', name: part.functionResponse.name, result: part.functionResponse.response }))
    }
  }
  return out
}

/** The complete SSE frames (`data: ...\n\n`) for one event; possibly none in typed framing. */
export function renderEvent (event: AgentEvent, framing: SimulatorOptions['framing'], inv: Invocation): string[] {
  const payloads = framing === 'adk' ? [adkJson(event, inv)] : typedJson(event)
  return payloads.map((p) => `data: ${p}\n\n`)
}

export function heartbeatFrame (form: SimulatorOptions['heartbeat']): string {
  if (form === 'comment') return ': heartbeat\n\n'
  if (form === 'empty-data') return 'data: \n\n'
  return 'data: {"type":"heartbeat"}\n\n'
}
