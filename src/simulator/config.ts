// The simulator is its own program, so it owns its own config: SimulatorOptions is one TypeBox
// schema used three ways (startup env SIM_*, buildSimulator() overrides, POST /__sim/config), so
// the three can never drift apart.
import { Type, type Static, type TLiteral, type TUnion } from 'typebox'
import { Check, Convert, Errors } from 'typebox/value'

export const SCENARIOS = [
  'text', 'generation', 'two-stage', 'silent-edit', 'edit', 'temporary-issue', 'disconnect',
  'error', 'ask-question', 'heartbeat-only', 'thought', 'enhance', 'silent-stream', 'silent-stream-stuck', 'burst'
] as const
export type ScenarioName = typeof SCENARIOS[number]

type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> }
function literals<const T extends readonly string[]> (values: T): TUnion<Literals<T>> {
  return Type.Union(values.map((v) => Type.Literal(v))) as unknown as TUnion<Literals<T>>
}

const SimulatorOptionsSchema = Type.Object({
  seed: Type.Integer(),
  /** 'adk': Google ADK Event JSON (contract §4.3); 'typed': the {"type":...} frames of §4.2. */
  framing: literals(['adk', 'typed']),
  /** 'comment' = `: heartbeat`, 'empty-data' = `data: `, 'typed' = `data: {"type":"heartbeat"}`. */
  heartbeat: literals(['comment', 'empty-data', 'typed']),
  heartbeatIntervalMs: Type.Integer({ minimum: 1 }),
  stepDelayMs: Type.Integer({ minimum: 0 }),
  /** Text events of a 'burst' turn (benchmarks), each stamped with the time it was written. */
  burstEvents: Type.Integer({ minimum: 1, maximum: 100000 }),
  generationMs: Type.Integer({ minimum: 0 }),
  renderDurationMs: Type.Integer({ minimum: 1 }),
  renderFailureRate: Type.Number({ minimum: 0, maximum: 1 }),
  /**
   * A render submit is accepted (the job exists) and answered this much later: the window in
   * which a caller that dies has started a render it never heard about.
   */
  renderAcceptDelayMs: Type.Integer({ minimum: 0 }),
  /**
   * Credits a render costs, taken at submit (2001 when they are not there). The contract says
   * export is free (0, the default); a cost lets a test see the gateway count what it spends.
   */
  renderCost: Type.Integer({ minimum: 0 }),
  pollShape: literals(['A', 'B', 'both']),
  /** A rendered file is padded (an MP4 `free` box) to this many bytes; 0 = its natural size. */
  outputBytes: Type.Integer({ minimum: 0, maximum: 2 ** 31 - 1 }),
  /**
   * A rendered file stays downloadable (render proxy and output URL alike) this long after the
   * render completed, then both answer 404, as expiring CDN URLs do; null = forever. Set 0 at
   * run time to expire every finished render's file at once.
   */
  outputTtlMs: Type.Union([Type.Null(), Type.Integer({ minimum: 0 })]),
  /** Rendered files are sent at this many bytes per second (a slow CDN); 0 = as fast as possible. */
  outputBytesPerSec: Type.Integer({ minimum: 0 }),
  uploadMaxBytes: Type.Integer({ minimum: 1 }),
  uploadThrottleBytesPerSec: Type.Integer({ minimum: 0 }),
  latencyMs: Type.Integer({ minimum: 0 }),
  tokenTtlMs: Type.Integer({ minimum: 1 }),
  mintLimitPerClient: Type.Integer({ minimum: 0 }),
  mintLimitPerIp: Type.Integer({ minimum: 0 }),
  mintWindowMs: Type.Integer({ minimum: 1 }),
  requireAttribution: Type.Boolean(),
  /** With requireAttribution, a render whose X-Skill-Source is not this one is refused (402). */
  skillSource: Type.String({ minLength: 1, maxLength: 64 }),
  authErrorStatus: Type.Integer({ minimum: 200, maximum: 599 }),
  /** Credits an anonymous mint starts with (the real service grants 100). */
  anonymousCredits: Type.Integer({ minimum: 0 }),
  /**
   * Development: a registered token the simulator always accepts (from start, after a reset,
   * across restarts), with 10,000 credits. Give the gateway the same value as NEMO_TOKEN.
   */
  devToken: Type.Union([Type.Null(), Type.String({ minLength: 8, maxLength: 256, pattern: '^[\\x21-\\x7e]+$' })]),
  /** Session ids go out as JSON numbers (19-digit snowflakes, beyond 2^53) instead of strings. */
  numericIds: Type.Boolean(),
  /** Forces every /run_sse onto one scenario (a `[scenario:x]` message prefix still wins). */
  scenario: Type.Union([Type.Null(), literals(SCENARIOS)])
}, { additionalProperties: false })

export type SimulatorOptions = Static<typeof SimulatorOptionsSchema>

export const SimulatorOptionsPatchSchema = Type.Partial(SimulatorOptionsSchema)

const DAY = 24 * 60 * 60 * 1000

export const DEFAULT_OPTIONS: SimulatorOptions = {
  seed: 1,
  framing: 'adk',
  heartbeat: 'comment',
  heartbeatIntervalMs: 15000,
  stepDelayMs: 50,
  burstEvents: 20,
  generationMs: 3000,
  renderDurationMs: 30000,
  renderFailureRate: 0,
  renderAcceptDelayMs: 0,
  pollShape: 'A',
  outputBytes: 0,
  outputTtlMs: null,
  outputBytesPerSec: 0,
  uploadMaxBytes: 500 * 1024 * 1024,
  uploadThrottleBytesPerSec: 0,
  latencyMs: 0,
  tokenTtlMs: 7 * DAY,
  mintLimitPerClient: 1,
  mintLimitPerIp: 10,
  mintWindowMs: 7 * DAY,
  requireAttribution: true,
  skillSource: 'hd-local-ai',
  authErrorStatus: 401,
  anonymousCredits: 100,
  renderCost: 0,
  devToken: null,
  numericIds: false,
  scenario: null
}

/** Defaults plus overrides, validated; throws with the offending keys named. */
export function resolveOptions (overrides: Partial<SimulatorOptions> = {}): SimulatorOptions {
  const merged = { ...DEFAULT_OPTIONS, ...stripUndefined(overrides) }
  if (!Check(SimulatorOptionsSchema, merged)) {
    const detail = Errors(SimulatorOptionsSchema, merged)
      .map((e) => `${e.instancePath || '/'} ${e.message}`).join('; ')
    throw new Error(`Invalid simulator options: ${detail}`)
  }
  return merged
}

function stripUndefined<T extends object> (o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>
}

export interface SimulatorProcessConfig {
  port: number
  host: string
  logLevel: string
  options: SimulatorOptions
}

/** `heartbeatIntervalMs` <- SIM_HEARTBEAT_INTERVAL_MS, and so on for every option. */
export function envName (key: string): string {
  return 'SIM_' + key.replace(/[A-Z]/g, (c) => '_' + c).toUpperCase()
}

export function loadSimulatorConfig (env: Record<string, string | undefined> = process.env): SimulatorProcessConfig {
  const raw: Record<string, unknown> = {}
  for (const key of Object.keys(DEFAULT_OPTIONS)) {
    const value = env[envName(key)]
    if (value !== undefined && value !== '') raw[key] = value
  }
  if (raw.scenario === 'none') raw.scenario = null
  if (raw.devToken === 'none') raw.devToken = null
  if (raw.outputTtlMs === 'none') raw.outputTtlMs = null
  const options = resolveOptions(Convert(SimulatorOptionsPatchSchema, raw) as Partial<SimulatorOptions>)
  const port = Number(env.SIM_PORT ?? 4010)
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`Invalid SIM_PORT: ${env.SIM_PORT}`)
  return { port, host: env.SIM_HOST ?? '127.0.0.1', logLevel: env.SIM_LOG_LEVEL ?? 'info', options }
}
