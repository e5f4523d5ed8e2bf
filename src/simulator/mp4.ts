// A real, playable MP4 built in code (no fixture file): one H.264 Baseline IDR frame made of
// I_PCM macroblocks, which carry raw samples and so need no entropy coder, shown for the whole
// duration, wrapped in the usual ftyp + moov + mdat boxes. Any size (frame cropping trims the
// 16-pixel macroblock grid to it) and any duration; built once per shape and kept.

export interface Mp4Shape {
  width: number
  height: number
  durationMs: number
}

const TIMESCALE = 1000
/** A dark blue in limited-range YCbCr; no zero bytes, so the slice needs little escaping. */
const COLOUR = { y: 41, cb: 180, cr: 110 }

class Bits {
  private readonly out: number[] = []
  private cur = 0
  private n = 0

  u (bits: number, value: number): this {
    for (let i = bits - 1; i >= 0; i--) {
      this.cur = (this.cur << 1) | (Math.floor(value / 2 ** i) & 1)
      if (++this.n === 8) {
        this.out.push(this.cur)
        this.cur = 0
        this.n = 0
      }
    }
    return this
  }

  /** Exp-Golomb, unsigned and signed (H.264 §9.1). */
  ue (v: number): this {
    const len = 32 - Math.clz32(v + 1)
    return this.u(len - 1, 0).u(len, v + 1)
  }

  se (v: number): this {
    return this.ue(v <= 0 ? -2 * v : 2 * v - 1)
  }

  align (): this {
    while (this.n !== 0) this.u(1, 0)
    return this
  }

  /** `count` bytes of `value`, after align(). */
  fill (value: number, count: number): this {
    for (let i = 0; i < count; i++) this.out.push(value)
    return this
  }

  trailing (): Buffer {
    this.u(1, 1).align()
    return Buffer.from(this.out)
  }
}

/** NAL unit with header byte and emulation prevention (0x000000..03 -> 0x000003xx). */
function nal (header: number, rbsp: Buffer): Buffer {
  const out = [header]
  let zeros = 0
  for (const b of rbsp) {
    if (zeros >= 2 && b <= 3) {
      out.push(3)
      zeros = 0
    }
    out.push(b)
    zeros = b === 0 ? zeros + 1 : 0
  }
  return Buffer.from(out)
}

const mbs = (pixels: number) => Math.ceil(pixels / 16)

function sps (shape: Mp4Shape): Buffer {
  const level = mbs(shape.width) * mbs(shape.height) <= 1620 ? 30 : 40
  const cropRight = (mbs(shape.width) * 16 - shape.width) / 2 // 4:2:0 crops in units of 2 pixels
  const cropBottom = (mbs(shape.height) * 16 - shape.height) / 2
  const b = new Bits().u(8, 66).u(8, 0xC0).u(8, level) // Baseline, constraint_set0/1
    .ue(0).ue(0).ue(2).ue(1).u(1, 0) // sps id, log2_max_frame_num-4, poc type 2, 1 ref, no gaps
    .ue(mbs(shape.width) - 1).ue(mbs(shape.height) - 1)
    .u(1, 1).u(1, 1) // frame_mbs_only, direct_8x8
  if (cropRight > 0 || cropBottom > 0) b.u(1, 1).ue(0).ue(cropRight).ue(0).ue(cropBottom)
  else b.u(1, 0)
  b.u(1, 0) // no VUI
  return nal(0x67, b.trailing())
}

function pps (): Buffer {
  const b = new Bits().ue(0).ue(0).u(1, 0).u(1, 0).ue(0).ue(0).ue(0) // ids, CAVLC, 1 slice group, refs
    .u(1, 0).u(2, 0).se(0).se(0).se(0) // no weighted prediction, qp 26, chroma offset 0
    .u(1, 1).u(1, 0).u(1, 0) // deblocking control present, no constrained intra, no redundant pic cnt
  return nal(0x68, b.trailing())
}

function idrSlice (shape: Mp4Shape): Buffer {
  const b = new Bits().ue(0).ue(7).ue(0).u(4, 0).ue(0) // first mb, I slice, pps 0, frame_num, idr_pic_id
    .u(1, 0).u(1, 0) // dec_ref_pic_marking: keep prior pics, not long-term
    .se(0).ue(1) // slice_qp_delta, deblocking disabled
  for (let mb = 0; mb < mbs(shape.width) * mbs(shape.height); mb++) {
    b.ue(25).align() // mb_type I_PCM, then pcm_alignment_zero_bits
    b.fill(COLOUR.y, 256).fill(COLOUR.cb, 64).fill(COLOUR.cr, 64)
  }
  return nal(0x65, b.trailing())
}

const u8 = (v: number) => Buffer.from([v & 0xff])
const u16 = (v: number) => { const b = Buffer.alloc(2); b.writeUInt16BE(v & 0xffff); return b }
const u32 = (v: number) => { const b = Buffer.alloc(4); b.writeUInt32BE(v >>> 0); return b }
const zeros = (n: number) => Buffer.alloc(n)
const MATRIX = Buffer.concat([0x00010000, 0, 0, 0, 0x00010000, 0, 0, 0, 0x40000000].map(u32))

function box (type: string, ...payload: Buffer[]): Buffer {
  const body = Buffer.concat(payload)
  return Buffer.concat([u32(8 + body.length), Buffer.from(type, 'latin1'), body])
}

function fullBox (type: string, version: number, flags: number, ...payload: Buffer[]): Buffer {
  return box(type, u32((version << 24) | flags), ...payload)
}

function moov (shape: Mp4Shape, sample: Buffer, spsNal: Buffer, ppsNal: Buffer, chunkOffset: number): Buffer {
  const { width: WIDTH, height: HEIGHT, durationMs: DURATION } = shape
  const avcC = box('avcC', u8(1), spsNal.subarray(1, 4), u8(0xff), u8(0xe1), u16(spsNal.length), spsNal, u8(1), u16(ppsNal.length), ppsNal)
  const name = Buffer.alloc(32)
  const avc1 = box('avc1', zeros(6), u16(1), zeros(16), u16(WIDTH), u16(HEIGHT), u32(0x00480000), u32(0x00480000),
    u32(0), u16(1), name, u16(0x18), u16(0xffff), avcC)
  const stbl = box('stbl',
    fullBox('stsd', 0, 0, u32(1), avc1),
    fullBox('stts', 0, 0, u32(1), u32(1), u32(DURATION)),
    fullBox('stss', 0, 0, u32(1), u32(1)),
    fullBox('stsc', 0, 0, u32(1), u32(1), u32(1), u32(1)),
    fullBox('stsz', 0, 0, u32(0), u32(1), u32(sample.length)),
    fullBox('stco', 0, 0, u32(1), u32(chunkOffset)))
  const minf = box('minf',
    fullBox('vmhd', 0, 1, zeros(8)),
    box('dinf', fullBox('dref', 0, 0, u32(1), fullBox('url ', 0, 1))),
    stbl)
  const mdia = box('mdia',
    fullBox('mdhd', 0, 0, u32(0), u32(0), u32(TIMESCALE), u32(DURATION), u16(0x55c4), u16(0)),
    fullBox('hdlr', 0, 0, u32(0), Buffer.from('vide'), zeros(12), Buffer.from('VideoHandler\0')),
    minf)
  const tkhd = fullBox('tkhd', 0, 3, u32(0), u32(0), u32(1), u32(0), u32(DURATION), zeros(8),
    u16(0), u16(0), u16(0), u16(0), MATRIX, u32(WIDTH << 16), u32(HEIGHT << 16))
  const mvhd = fullBox('mvhd', 0, 0, u32(0), u32(0), u32(TIMESCALE), u32(DURATION), u32(0x00010000), u16(0x0100),
    zeros(10), MATRIX, zeros(24), u32(2))
  return box('moov', mvhd, box('trak', tkhd, mdia))
}

function build (shape: Mp4Shape): Buffer {
  const spsNal = sps(shape)
  const ppsNal = pps()
  const slice = idrSlice(shape)
  const sample = Buffer.concat([u32(slice.length), slice])
  const ftyp = box('ftyp', Buffer.from('isom'), u32(0x200), Buffer.from('isomiso2avc1mp41'))
  // The chunk offset is a fixed-size field, so moov's length does not depend on its value.
  const offset = ftyp.length + moov(shape, sample, spsNal, ppsNal, 0).length + 8
  return Buffer.concat([ftyp, moov(shape, sample, spsNal, ppsNal, offset), box('mdat', sample)])
}

const cache = new Map<string, Buffer>()
const CACHED_SHAPES = 8

/** A playable MP4 of this shape (default: the 1 s 64x64 clip). Even width and height. */
export function renderMp4 (shape: Mp4Shape = { width: 64, height: 64, durationMs: 1000 }): Buffer {
  if (shape.width % 2 !== 0 || shape.height % 2 !== 0 || shape.width <= 0 || shape.height <= 0 || shape.durationMs <= 0) {
    throw new RangeError(`renderMp4: even positive width and height and a positive duration, not ${JSON.stringify(shape)}`)
  }
  const key = `${shape.width}x${shape.height}x${Math.round(shape.durationMs)}`
  let file = cache.get(key)
  if (file === undefined) {
    file = build({ ...shape, durationMs: Math.round(shape.durationMs) })
    if (cache.size >= CACHED_SHAPES) cache.delete(cache.keys().next().value!)
    cache.set(key, file)
  }
  return file
}
