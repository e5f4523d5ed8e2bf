// What an MP4 (ISO BMFF) file says about itself: duration, and the picture size of its video
// track, read from the boxes (mvhd, trak/tkhd, mdia/hdlr). No decoder, no dependency: the demo
// checks what it downloaded with it, and the simulator reports what it was sent.

export interface Mp4Info {
  durationMs: number
  width: number | null
  height: number | null
  /** The major brand of the ftyp box, e.g. "isom". */
  brand: string | null
}

interface Box { type: string, start: number, end: number }

function * boxes (buf: Buffer, start: number, end: number): Generator<Box> {
  let at = start
  while (at + 8 <= end) {
    let size = buf.readUInt32BE(at)
    const type = buf.toString('latin1', at + 4, at + 8)
    let header = 8
    if (size === 1) {
      if (at + 16 > end) return
      size = Number(buf.readBigUInt64BE(at + 8))
      header = 16
    } else if (size === 0) {
      size = end - at
    }
    if (size < header || at + size > end) return
    yield { type, start: at + header, end: at + size }
    at += size
  }
}

function child (buf: Buffer, parent: Box, type: string): Box | undefined {
  for (const b of boxes(buf, parent.start, parent.end)) if (b.type === type) return b
  return undefined
}

/** Duration in ms from an mvhd (versions 0 and 1). */
function movieDuration (buf: Buffer, mvhd: Box): number {
  const version = buf[mvhd.start]
  const timescale = version === 1 ? buf.readUInt32BE(mvhd.start + 20) : buf.readUInt32BE(mvhd.start + 12)
  const duration = version === 1 ? Number(buf.readBigUInt64BE(mvhd.start + 24)) : buf.readUInt32BE(mvhd.start + 16)
  return timescale > 0 ? (duration * 1000) / timescale : 0
}

/** Width and height (16.16 fixed point) at the end of a tkhd. */
function trackSize (buf: Buffer, tkhd: Box): { width: number, height: number } {
  return { width: buf.readUInt32BE(tkhd.end - 8) / 65536, height: buf.readUInt32BE(tkhd.end - 4) / 65536 }
}

/** The file's info, or null when it is not an MP4 with a movie header (the whole file is needed for moov at the end). */
export function mp4Info (buf: Buffer): Mp4Info | null {
  const top = { type: '', start: 0, end: buf.length }
  const ftyp = child(buf, top, 'ftyp')
  const moov = child(buf, top, 'moov')
  const mvhd = moov === undefined ? undefined : child(buf, moov, 'mvhd')
  if (moov === undefined || mvhd === undefined || mvhd.end - mvhd.start < 20) return null
  const info: Mp4Info = { durationMs: movieDuration(buf, mvhd), width: null, height: null, brand: ftyp === undefined ? null : buf.toString('latin1', ftyp.start, ftyp.start + 4) }
  for (const trak of boxes(buf, moov.start, moov.end)) {
    if (trak.type !== 'trak') continue
    const mdia = child(buf, trak, 'mdia')
    const hdlr = mdia === undefined ? undefined : child(buf, mdia, 'hdlr')
    const tkhd = child(buf, trak, 'tkhd')
    if (hdlr === undefined || tkhd === undefined || buf.toString('latin1', hdlr.start + 8, hdlr.start + 12) !== 'vide') continue
    Object.assign(info, trackSize(buf, tkhd))
    break
  }
  return info
}
