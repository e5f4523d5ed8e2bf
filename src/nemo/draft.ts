// The upstream's timeline draft (contract §3.7: `t` tracks, `tt` type, `sg` segments, `d` ms,
// `m` metadata) read into a typed Timeline, for the one-line summaries a silent turn needs.
// The segment schema is undocumented, so every field is optional, aliases are accepted
// (`st`/`start`, `d`/`duration`, `v`/`volume`, `name`/`title`/`text`/`label`) and the
// original object is kept in `raw`. The draft itself stays opaque JSON everywhere else.
import { isObject } from './envelope.ts'

type TrackKind = 'video' | 'audio' | 'text' | 'other'

interface TimelineSegment {
  startMs?: number
  durationMs?: number
  label?: string
  /** 0..1 */
  volume?: number
  src?: string
  text?: string
  raw: Record<string, unknown>
}

interface TimelineTrack {
  /** 1-based position in the draft's track list, as a person counts. */
  index: number
  kind: TrackKind
  segments: TimelineSegment[]
}

export interface Timeline {
  tracks: TimelineTrack[]
  durationMs: number
  title?: string
  width?: number
  height?: number
}

type Json = Record<string, unknown>

const TRACK_TYPES: Record<string, TrackKind> = {
  0: 'video', 1: 'audio', 7: 'text', video: 'video', audio: 'audio', bgm: 'audio', music: 'audio', text: 'text', title: 'text'
}

/** A draft (object or JSON string) -> Timeline; anything unreadable gives an empty one. */
export function parseTimeline (draft: unknown): Timeline {
  const d = asObject(draft)
  const rawTracks = Array.isArray(d.t) ? d.t : Array.isArray(d.tracks) ? d.tracks : []
  const tracks = rawTracks.map((t, i): TimelineTrack => {
    const track = isObject(t) ? t : {}
    const type = track.tt ?? track.type
    const segs = Array.isArray(track.sg) ? track.sg : Array.isArray(track.segments) ? track.segments : []
    return { index: i + 1, kind: TRACK_TYPES[String(type).toLowerCase()] ?? 'other', segments: segs.filter(isObject).map(segment) }
  })
  const m = isObject(d.m) ? d.m : isObject(d.metadata) ? d.metadata : {}
  const timeline: Timeline = { tracks, durationMs: num(d.d) ?? num(d.duration) ?? maxEnd(tracks) ?? 0 }
  const title = str(m.title) ?? str(m.name)
  const width = num(m.width) ?? num(m.w)
  const height = num(m.height) ?? num(m.h)
  if (title !== undefined) timeline.title = title
  if (width !== undefined) timeline.width = width
  if (height !== undefined) timeline.height = height
  return timeline
}

/** Exportable ⇔ `draft.t` exists and at least one track has segments (contract §3.7). */
export function isExportable (draft: unknown): boolean {
  const d = asObject(draft)
  return Array.isArray(d.t) && d.t.some((t) => isObject(t) && Array.isArray(t.sg) && t.sg.length > 0)
}

const NAMES: Record<TrackKind, string> = { video: 'Video', audio: 'BGM', text: 'Title', other: 'Track' }
const MAX_LABELS = 3

/**
 * The product's one-line summary, e.g.
 * `Timeline (3 tracks): 1. Video: city timelapse (0-10s) 2. BGM: Lo-fi (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)`.
 */
export function summarize (timeline: Timeline): string {
  const n = timeline.tracks.length
  const head = `Timeline (${n} ${n === 1 ? 'track' : 'tracks'})`
  if (n === 0) return `${head}: empty`
  return `${head}: ${timeline.tracks.map((t) => `${t.index}. ${NAMES[t.kind]}: ${trackLabel(t)}${trackDetails(t)}`).join(' ')}`
}

function trackLabel (track: TimelineTrack): string {
  if (track.segments.length === 0) return '(empty)'
  const labels = track.segments.map((s) => s.label === undefined ? 'untitled' : track.kind === 'text' ? `"${s.label}"` : s.label)
  const shown = labels.slice(0, MAX_LABELS).join(', ')
  return labels.length > MAX_LABELS ? `${shown}, +${labels.length - MAX_LABELS} more` : shown
}

function trackDetails (track: TimelineTrack): string {
  const parts: string[] = []
  const span = trackSpan(track)
  if (span !== undefined) parts.push(`${secs(span[0])}-${secs(span[1])}s`)
  const volume = track.kind === 'audio' ? track.segments.find((s) => s.volume !== undefined)?.volume : undefined
  if (volume !== undefined) parts.push(percent(volume))
  return parts.length === 0 ? '' : ` (${parts.join(', ')})`
}

type TimelineChangeType = 'track_added' | 'track_removed' | 'track_changed' | 'duration_changed' | 'metadata_changed'

interface TimelineChange {
  type: TimelineChangeType
  kind?: TrackKind
  /** The track's 1-based index: in `after` when added or changed, in `before` when removed. */
  index?: number
  description: string
}

export interface TimelineDiff {
  changes: TimelineChange[]
  /** The descriptions joined by "; ", or "No changes". */
  summary: string
}

/**
 * What a turn did to the timeline, for turns that end without text. Tracks are paired by
 * kind and order within the kind (the 2nd video track before with the 2nd after), so adding
 * a title does not make every later track look changed. A missing draft is an empty timeline.
 */
export function diffTimelines (before: Timeline | null | undefined, after: Timeline | null | undefined): TimelineDiff {
  const a = before ?? parseTimeline(null)
  const b = after ?? parseTimeline(null)
  const changes: TimelineChange[] = []
  for (const kind of ['video', 'audio', 'text', 'other'] as const) {
    const olds = a.tracks.filter((t) => t.kind === kind)
    const news = b.tracks.filter((t) => t.kind === kind)
    for (let i = 0; i < Math.max(olds.length, news.length); i++) {
      const o = olds[i]
      const n = news[i]
      if (o === undefined && n !== undefined) changes.push({ type: 'track_added', kind, index: n.index, description: added(n) })
      else if (o !== undefined && n === undefined) changes.push({ type: 'track_removed', kind, index: o.index, description: removed(o) })
      else if (o !== undefined && n !== undefined) {
        for (const description of changed(o, n)) changes.push({ type: 'track_changed', kind, index: n.index, description })
      }
    }
  }
  if (a.durationMs !== b.durationMs && (a.tracks.length > 0 || b.tracks.length > 0)) {
    changes.push({ type: 'duration_changed', description: `Changed duration ${secs(a.durationMs)}s -> ${secs(b.durationMs)}s` })
  }
  if (a.title !== b.title && b.title !== undefined) {
    changes.push({ type: 'metadata_changed', description: `Changed project title '${a.title ?? ''}' -> '${b.title}'` })
  }
  if ((a.width !== b.width || a.height !== b.height) && b.width !== undefined && b.height !== undefined) {
    changes.push({ type: 'metadata_changed', description: `Changed resolution ${a.width ?? '?'}x${a.height ?? '?'} -> ${b.width}x${b.height}` })
  }
  return { changes, summary: changes.length === 0 ? 'No changes' : changes.map((c) => c.description).join('; ') }
}

function added (t: TimelineTrack): string {
  if (t.kind === 'text') return t.segments.length === 0 ? 'Added title track' : t.segments.map((s) => `Added title ${titleOf(s)}${range(s)}`).join('; ')
  if (t.kind === 'audio') return 'Added BGM track'
  return t.kind === 'video' ? `Added video track ${t.index}` : `Added track ${t.index}`
}

function removed (t: TimelineTrack): string {
  if (t.kind === 'text') return t.segments.length === 0 ? 'Removed title track' : t.segments.map((s) => `Removed title ${titleOf(s)}`).join('; ')
  if (t.kind === 'audio') return 'Removed BGM track'
  return t.kind === 'video' ? `Removed video track ${t.index}` : `Removed track ${t.index}`
}

function changed (o: TimelineTrack, n: TimelineTrack): string[] {
  if (sameJson(o.segments.map((s) => s.raw), n.segments.map((s) => s.raw))) return []
  const out: string[] = []
  const name = o.kind === 'audio' ? 'BGM track' : o.kind === 'video' ? `video track ${n.index}` : `track ${n.index}`
  for (let i = 0; i < Math.max(o.segments.length, n.segments.length); i++) {
    const s = o.segments[i]
    const t = n.segments[i]
    if (o.kind === 'text') {
      if (s === undefined && t !== undefined) out.push(`Added title ${titleOf(t)}${range(t)}`)
      else if (s !== undefined && t === undefined) out.push(`Removed title ${titleOf(s)}`)
      else if (s !== undefined && t !== undefined) {
        if (s.text !== t.text || s.label !== t.label) out.push(`Changed title ${titleOf(s)} -> ${titleOf(t)}`)
        else if (range(s) !== range(t)) out.push(`Moved title ${titleOf(t)}${range(s)} ->${range(t)}`)
      }
    } else if (s !== undefined && t !== undefined && o.kind === 'audio' && s.volume !== t.volume && t.volume !== undefined) {
      out.push(`Changed BGM volume ${s.volume === undefined ? '?' : percent(s.volume)} -> ${percent(t.volume)}`)
    }
  }
  const delta = n.segments.length - o.segments.length
  if (o.kind !== 'text' && delta !== 0) {
    const clips = `${Math.abs(delta)} ${Math.abs(delta) === 1 ? 'clip' : 'clips'}`
    out.push(delta > 0 ? `Added ${clips} to ${name}` : `Removed ${clips} from ${name}`)
  }
  return out.length > 0 ? out : [`Changed ${name}`]
}

/**
 * Structural equality of JSON values, blind to key order: the "before" snapshot comes back
 * from a jsonb column, which stores object keys in its own order.
 */
function sameJson (a: unknown, b: unknown): boolean {
  if (a === b) return true
  if (Array.isArray(a) || Array.isArray(b)) {
    return Array.isArray(a) && Array.isArray(b) && a.length === b.length && a.every((x, i) => sameJson(x, b[i]))
  }
  if (!isObject(a) || !isObject(b)) return false
  const keys = Object.keys(a)
  return keys.length === Object.keys(b).length && keys.every((k) => Object.hasOwn(b, k) && sameJson(a[k], b[k]))
}

function titleOf (s: TimelineSegment): string {
  return `'${s.text ?? s.label ?? 'untitled'}'`
}

function range (s: TimelineSegment): string {
  if (s.durationMs === undefined) return ''
  const start = s.startMs ?? 0
  return ` ${secs(start)}-${secs(start + s.durationMs)} s`
}

function secs (ms: number): string {
  return String(Math.round(ms / 100) / 10)
}

function percent (volume: number): string {
  return `${Math.round(volume * 100)}%`
}

function segment (s: Json): TimelineSegment {
  const out: TimelineSegment = { raw: s }
  const start = num(s.st) ?? num(s.start) ?? num(s.startMs)
  const end = num(s.et) ?? num(s.end)
  const duration = num(s.d) ?? num(s.duration) ?? num(s.durationMs) ?? (end !== undefined ? end - (start ?? 0) : undefined)
  const volume = num(s.v) ?? num(s.volume) ?? num(s.vol)
  const src = str(s.src) ?? str(s.url) ?? str(s.cdn_url) ?? str(s.path) ?? str(s.file)
  const text = str(s.text) ?? str(s.content)
  const label = str(s.name) ?? str(s.title) ?? text ?? str(s.label) ?? (src === undefined ? undefined : basename(src))
  if (start !== undefined) out.startMs = start
  if (duration !== undefined) out.durationMs = duration
  // Some editors store volume as a percentage.
  if (volume !== undefined) out.volume = volume > 1 ? volume / 100 : volume
  if (src !== undefined) out.src = src
  if (text !== undefined) out.text = text
  if (label !== undefined) out.label = label
  return out
}

/** The track's span [start, end] in ms, when any segment has a duration. */
function trackSpan (track: TimelineTrack): [number, number] | undefined {
  const timed = track.segments.filter((s) => s.durationMs !== undefined)
  if (timed.length === 0) return undefined
  const start = Math.min(...timed.map((s) => s.startMs ?? 0))
  const end = Math.max(...timed.map((s) => (s.startMs ?? 0) + (s.durationMs ?? 0)))
  return [start, end]
}

function maxEnd (tracks: TimelineTrack[]): number | undefined {
  const ends = tracks.map(trackSpan).filter((s) => s !== undefined).map((s) => s[1])
  return ends.length === 0 ? undefined : Math.max(...ends)
}

function basename (src: string): string {
  const path = src.split(/[?#]/)[0] ?? src
  const base = path.split('/').filter((p) => p !== '').pop() ?? path
  try {
    return decodeURIComponent(base)
  } catch {
    return base
  }
}

function asObject (draft: unknown): Json {
  if (typeof draft === 'string') {
    try {
      draft = JSON.parse(draft)
    } catch {
      return {}
    }
  }
  return isObject(draft) ? draft : {}
}

function str (v: unknown): string | undefined {
  return typeof v === 'string' && v.trim() !== '' ? v : undefined
}

function num (v: unknown): number | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v))) return Number(v)
  return undefined
}
