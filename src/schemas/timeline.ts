// The shape of a session's timeline as REST and say answer it: typed tracks, the canvas, the
// assets, and the product's one-line summary.
import { Type } from 'typebox'

const SegmentSchema = Type.Object({
  startMs: Type.Optional(Type.Number()),
  durationMs: Type.Optional(Type.Number()),
  label: Type.Optional(Type.String()),
  volume: Type.Optional(Type.Number()),
  src: Type.Optional(Type.String()),
  text: Type.Optional(Type.String()),
  raw: Type.Record(Type.String(), Type.Unknown())
})

export const TimelineSchema = Type.Object({
  sessionId: Type.String(),
  summary: Type.String({ description: 'e.g. Timeline (3 tracks): 1. Video: clip1 (0-10s) 2. BGM: bgm (0-10s, 35%) 3. Title: "Urban Dreams" (0-3s)' }),
  exportable: Type.Boolean(),
  timeline: Type.Object({
    tracks: Type.Array(Type.Object({
      index: Type.Integer(),
      kind: Type.Union([Type.Literal('video'), Type.Literal('audio'), Type.Literal('text'), Type.Literal('other')]),
      segments: Type.Array(SegmentSchema)
    })),
    durationMs: Type.Number(),
    title: Type.Optional(Type.String()),
    width: Type.Optional(Type.Number()),
    height: Type.Optional(Type.Number())
  }),
  canvas: Type.Union([Type.Record(Type.String(), Type.Unknown()), Type.Null()]),
  assets: Type.Array(Type.Unknown()),
  generatedMedia: Type.Array(Type.Unknown())
}, { $id: 'Timeline' })
