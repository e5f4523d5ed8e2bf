// What the agent does in one /run_sse turn, as a list of steps, independent of HTTP and framing.
// The behaviours are the ones contract §4.1 says real clients must survive: GUI-speak replies,
// two-stage generation, edits that end with no text, trailing "temporary issue" text, dropped
// streams, error frames, questions and heartbeat-only stretches.
import { SCENARIOS, type ScenarioName, type SimulatorOptions } from './config.ts'
import { callEvent, resultEvent, textEvent, type AgentEvent } from './agent-events.ts'
import { addBgm, addTitle, addVideoClip, TITLE_TEXT } from './draft.ts'
import type { Prng } from './prng.ts'
import type { SimSession } from './state.ts'

export type Step =
  /** `stamp`: the frame's SENT_AT placeholder becomes the time it is written. */
  | { kind: 'event', event: AgentEvent, stamp?: boolean }
  /** Heartbeats only, for this long: the model is "generating". */
  | { kind: 'heartbeats', ms: number }
  /** The work lands: credits are spent and the session changes. */
  | { kind: 'commit', cost: number, apply: (session: SimSession) => void }
  /** A content-less ADK event with stateDelta {draft_version}. */
  | { kind: 'state' }
  /** Not one byte for this long, not even a heartbeat: the connection stays open. */
  | { kind: 'silence', ms: number }
  /** Write half of this event's frame, then drop the connection; later steps finish upstream. */
  | { kind: 'cut', event: AgentEvent }

export interface Script { scenario: ScenarioName, cost: number, steps: Step[] }

const GENERATION_COST = 100
const EDIT_COST = 50
const CLIP_MS = 10000

const TAG = /^\s*\[scenario:([a-z-]+)\]\s*/i

function stripScenarioTag (text: string): string {
  return text.replace(TAG, '')
}

/**
 * The message tag wins (tests pick exactly what they need), then the configured scenario, then
 * keywords. About 30% of edits are silent, as contract §4.1 reports; which ones follows the seed.
 */
export function pickScenario (text: string, options: SimulatorOptions, rng: Prng): ScenarioName {
  const tagged = TAG.exec(text)?.[1]?.toLowerCase()
  if (tagged !== undefined && (SCENARIOS as readonly string[]).includes(tagged)) return tagged as ScenarioName
  if (options.scenario !== null) return options.scenario
  const lower = text.toLowerCase()
  const wantsMusic = /\b(music|bgm|soundtrack)\b|音乐/.test(lower)
  if (/\b(enhance|upscale|upgrade|sharpen|restore)\b|增强|高清|超分/.test(lower)) return 'enhance'
  if (/\b(generate|create|make)\b|生成|制作/.test(lower)) return wantsMusic ? 'two-stage' : 'generation'
  if (wantsMusic || /\b(title|add|edit|caption)\b|标题|添加|编辑/.test(lower)) {
    return rng.next() < 0.3 ? 'silent-edit' : 'edit'
  }
  return 'text'
}

const ASK_QUESTIONS = {
  questions: [{
    id: 'aspect_ratio',
    prompt: 'Which format should the video use?',
    options: [{ id: '16:9', label: 'Landscape 16:9' }, { id: '9:16', label: 'Portrait 9:16' }, { id: '1:1', label: 'Square 1:1' }],
    allow_multiple: false
  }]
}

const REPLY = {
  text: 'Happy to help! Tell me the topic, style and length you want, and I will build the video. ' +
    'You can preview everything in the timeline panel on the right.',
  generation: 'Your video is ready! Preview it in the timeline on the right. Click Export to download the MP4. ' +
    '视频已生成，可在右侧时间线预览，点击导出即可下载。',
  twoStage: (title: string) => `I added background music and the title "${title}". Open the music panel to change the track, ` +
    'then Click Export to download. 已添加背景音乐和标题，点击导出即可下载。',
  edit: (title: string) => `Done! The title "${title}" now shows for the first 3 seconds. Preview it in the timeline, then Click Export to download.`,
  enhanced: (name: string) => `Your video ${name} is enhanced and upscaled to 1080p HD. Preview it in the timeline on the right, then Click Export to download the MP4.`,
  noUpload: 'Upload a video first (the upload button, or drag it into the chat), then ask me to enhance it.',
  thought: 'The user asks a general question; no tool is needed, answer briefly and point at the GUI.',
  temporary: 'I encountered a temporary issue. Please try again.',
  error: 'Internal agent error: the video model is temporarily unavailable'
}

interface Build { session: SimSession, text: string, options: SimulatorOptions, rng: Prng }

function generationSteps ({ session, text, options, rng }: Build): { call: AgentEvent, rest: Step[] } {
  const id = 'adk-' + rng.uuid()
  const url = `https://cdn.nemo.local/sim/${session.sessionId}/gen_${rng.hex(8)}.mp4`
  const args = { prompt: stripScenarioTag(text).slice(0, 500), duration: CLIP_MS / 1000, aspect_ratio: '16:9', resolution: '1080p' }
  const call = callEvent(id, 'generate_video_with_seedance', args)
  const rest: Step[] = [
    { kind: 'heartbeats', ms: options.generationMs },
    {
      kind: 'commit',
      cost: GENERATION_COST,
      apply: (s) => {
        addVideoClip(s.state.draft, url, CLIP_MS)
        const media = { filename: url.slice(url.lastIndexOf('/') + 1), file_type: 'video', cdn_url: url, duration: CLIP_MS / 1000, width: 1920, height: 1080 }
        s.state.video_infos.push({ ...media, source: 'generated' })
        s.state.generated_media.push({ ...media, tool: 'generate_video_with_seedance' })
      }
    },
    { kind: 'event', event: resultEvent(id, 'generate_video_with_seedance', { status: 'success', video_url: url, duration: CLIP_MS / 1000, width: 1920, height: 1080 }) },
    { kind: 'state' }
  ]
  return { call, rest }
}

/**
 * The title a request names: quoted text ("Hello", 'Hello', “Hello”), or the words after
 * "title called|saying|named|reading|:", or capitalised words right after "title"; else the
 * simulator's stock title.
 */
export function titleFrom (text: string): string {
  const plain = stripScenarioTag(text)
  const m = /["“']([^"”']{1,80})["”']/.exec(plain) ??
    /\btitle\s*(?:called|saying|named|reading|:)\s*([^,.;!?\n]{1,80})/i.exec(plain) ??
    /\btitle\s+([A-Z][^,.;!?\n]{0,79})/.exec(plain)
  return m?.[1]?.trim() || TITLE_TEXT
}

/** The newest video the user uploaded to this session, if any. */
function lastUpload (session: SimSession): Record<string, unknown> | undefined {
  return session.state.video_infos.findLast((v) => v.file_type === 'video' && v.source !== 'generated' && v.source !== 'enhanced')
}

function enhanceSteps ({ session, options, rng }: Build, upload: Record<string, unknown>): Step[] {
  const id = 'adk-' + rng.uuid()
  const name = String(upload.filename ?? 'video.mp4')
  const durationMs = typeof upload.duration === 'number' && upload.duration > 0 ? Math.round(upload.duration * 1000) : CLIP_MS
  const url = `https://cdn.nemo.local/sim/${session.sessionId}/hd_${rng.hex(8)}_${encodeURIComponent(name)}`
  const media = { filename: `hd_${name}`, file_type: 'video', cdn_url: url, duration: durationMs / 1000, width: 1920, height: 1080 }
  return [
    { kind: 'event', event: callEvent(id, 'enhance_video', { video_url: upload.cdn_url, target_resolution: '1080p', denoise: true }) },
    { kind: 'heartbeats', ms: options.generationMs },
    {
      kind: 'commit',
      cost: GENERATION_COST,
      apply: (s) => {
        addVideoClip(s.state.draft, url, durationMs)
        s.state.video_infos.push({ ...media, source: 'enhanced' })
      }
    },
    { kind: 'event', event: resultEvent(id, 'enhance_video', { status: 'success', video_url: url, duration: durationMs / 1000, width: 1920, height: 1080 }) },
    { kind: 'state' },
    say(REPLY.enhanced(name))
  ]
}

function editSteps ({ session, rng, text }: Build, withBgm: boolean): Step[] {
  const id = 'adk-' + rng.uuid()
  const bgm = `https://cdn.nemo.local/sim/${session.sessionId}/bgm_${rng.hex(8)}.mp3`
  const title = titleFrom(text)
  const operations: Array<Record<string, unknown>> = [{ op: 'add_text', track_type: 7, text: title, start_ms: 0, duration_ms: 3000 }]
  if (withBgm) operations.unshift({ op: 'add_audio', track_type: 1, src: bgm, volume: 0.35 })
  return [
    { kind: 'event', event: callEvent(id, 'edit_multitrack', { operations }) },
    {
      kind: 'commit',
      cost: EDIT_COST,
      apply: (s) => {
        if (withBgm) addBgm(s.state.draft, bgm)
        addTitle(s.state.draft, title)
      }
    },
    { kind: 'event', event: resultEvent(id, 'edit_multitrack', { status: 'success', applied: operations.length }) },
    { kind: 'state' }
  ]
}

const say = (text: string): Step => ({ kind: 'event', event: textEvent(text) })

/** Replaced, in a stamped step's frames, by the wall-clock ms (3 decimals) it is written at. */
export const SENT_AT = '{{sent_at}}'

export function buildScript (scenario: ScenarioName, b: Build): Script {
  const script = (cost: number, steps: Step[]): Script => ({ scenario, cost, steps })
  switch (scenario) {
    case 'text': return script(0, [say(REPLY.text)])
    case 'generation': {
      const g = generationSteps(b)
      return script(GENERATION_COST, [{ kind: 'event', event: g.call }, ...g.rest, say(REPLY.generation)])
    }
    case 'two-stage': {
      const g = generationSteps(b)
      return script(GENERATION_COST + EDIT_COST, [
        { kind: 'event', event: g.call }, ...g.rest, say(REPLY.generation), ...editSteps(b, true), say(REPLY.twoStage(titleFrom(b.text)))
      ])
    }
    case 'silent-edit': return script(EDIT_COST, editSteps(b, false))
    case 'edit': return script(EDIT_COST, [...editSteps(b, false), say(REPLY.edit(titleFrom(b.text)))])
    case 'enhance': {
      const upload = lastUpload(b.session)
      return upload === undefined ? script(0, [say(REPLY.noUpload)]) : script(GENERATION_COST, enhanceSteps(b, upload))
    }
    case 'temporary-issue': return script(0, [say(REPLY.text), say(REPLY.temporary)])
    case 'disconnect': {
      // The proxy drops the client mid-event while the generation carries on upstream, which is
      // what the skill's "wait, then poll state" recovery (contract §4.1) is for.
      const g = generationSteps(b)
      return script(GENERATION_COST, [{ kind: 'event', event: g.call }, { kind: 'cut', event: textEvent(REPLY.generation) }, ...g.rest])
    }
    case 'error': return script(0, [{ kind: 'event', event: { kind: 'error', message: REPLY.error } }])
    case 'ask-question':
      return script(0, [{ kind: 'event', event: callEvent('adk-' + b.rng.uuid(), 'ask_question', ASK_QUESTIONS, true) }])
    case 'heartbeat-only': return script(0, [{ kind: 'heartbeats', ms: b.options.generationMs }])
    case 'silent-stream': {
      // the generation lands upstream, then the stream says nothing more at all
      const g = generationSteps(b)
      const commits = g.rest.filter((r) => r.kind === 'commit')
      return script(GENERATION_COST, [{ kind: 'event', event: g.call }, ...commits, { kind: 'silence', ms: 10 * b.options.generationMs }])
    }
    case 'silent-stream-stuck': return script(0, [{ kind: 'silence', ms: 10 * b.options.generationMs }])
    case 'burst': {
      // what the relay benchmark times: how much later than the upstream wrote it a client sees each event
      const n = b.options.burstEvents
      return script(0, Array.from({ length: n }, (_, i): Step => ({ kind: 'event', event: textEvent(`Part ${i + 1} of ${n}, sent at ${SENT_AT} ms`), stamp: true })))
    }
    case 'thought':
      return script(0, [{ kind: 'event', event: { kind: 'content', role: 'model', parts: [{ text: REPLY.thought, thought: true }, { text: REPLY.text }] } }])
  }
}
