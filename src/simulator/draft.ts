// The timeline draft with the short keys of contract §3.7 (t/tt/sg/d/m). Segment fields
// (src, st, d, v, text) are the contract's invented placeholders: the gateway must treat the draft
// as opaque JSON, and these mutations only have to make "the draft changed" observable.

const TRACK_VIDEO = 0
const TRACK_AUDIO = 1
const TRACK_TEXT = 7

interface Segment {
  src?: string
  text?: string
  st: number
  d: number
  v?: number
}

interface Track { tt: number, sg: Segment[] }

export interface Draft {
  t: Track[]
  d: number
  m: { title: string, width: number, height: number }
}

export const TITLE_TEXT = 'Urban Dreams'

export function emptyDraft (title: string): Draft {
  return { t: [], d: 0, m: { title, width: 1920, height: 1080 } }
}

function trackOf (draft: Draft, tt: number): Track {
  let track = draft.t.find((x) => x.tt === tt)
  if (track === undefined) {
    track = { tt, sg: [] }
    draft.t.push(track)
  }
  return track
}

function trackEnd (track: Track): number {
  return track.sg.reduce((end, s) => Math.max(end, s.st + s.d), 0)
}

function refreshDuration (draft: Draft): void {
  draft.d = draft.t.reduce((end, track) => Math.max(end, trackEnd(track)), 0)
}

/** Appends a clip after the last one on the video track; returns where it starts. */
export function addVideoClip (draft: Draft, src: string, durationMs: number): number {
  const track = trackOf(draft, TRACK_VIDEO)
  const st = trackEnd(track)
  track.sg.push({ src, st, d: durationMs })
  refreshDuration(draft)
  return st
}

export function addBgm (draft: Draft, src: string): void {
  const track = trackOf(draft, TRACK_AUDIO)
  track.sg = [{ src, st: 0, d: Math.max(draft.d, 1000), v: 0.35 }]
  refreshDuration(draft)
}

export function addTitle (draft: Draft, text: string, st = 0, d = 3000): void {
  trackOf(draft, TRACK_TEXT).sg.push({ text, st, d })
  draft.m.title = text
  refreshDuration(draft)
}

/** The render of a draft: its picture size (even, at most 1920x1080) and duration (1 s to 10 min). */
export function outputShape (draft: unknown): { width: number, height: number, durationMs: number } {
  const d = (draft ?? {}) as Partial<Draft>
  const even = (v: unknown, max: number, fallback: number) => typeof v === 'number' && v >= 2 ? Math.min(max, Math.floor(v / 2) * 2) : fallback
  const ms = typeof d.d === 'number' && Number.isFinite(d.d) ? d.d : 1000
  return { width: even(d.m?.width, 1920, 1920), height: even(d.m?.height, 1080, 1080), durationMs: Math.min(600_000, Math.max(1000, ms)) }
}

/** Contract §3.7: exportable when tracks exist and at least one has a segment. */
export function isExportable (draft: unknown): boolean {
  if (typeof draft !== 'object' || draft === null) return false
  const tracks = (draft as { t?: unknown }).t
  return Array.isArray(tracks) && tracks.some((tr) => Array.isArray(tr?.sg) && tr.sg.length > 0)
}
