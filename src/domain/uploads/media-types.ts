// The file types the upstream accepts (contract §3.5) and how each one starts on disk. An
// upload passes only when its extension names an accepted type and its first bytes carry a
// signature that type can have, so a renamed file (a PNG saved as .mp4) is refused before any
// of it goes upstream. Signatures are container-level on purpose: brands and codecs vary too
// much between encoders to judge from a few bytes.
import { gwError, type GatewayError } from '../../errors.ts'
import { ACCEPTED_FILE_TYPES, ACCEPTED_FILE_TYPES_TEXT, type FileType } from '../../nemo/file-types.ts'

export type MediaType = FileType

/** How many leading bytes are read before a file is judged. */
export const SNIFF_BYTES = 64

interface Family {
  label: string
  test: (head: Buffer) => boolean
}

const ascii = (head: Buffer, at: number, text: string): boolean =>
  head.length >= at + text.length && head.toString('latin1', at, at + text.length) === text

const riff = (form: string) => (head: Buffer): boolean =>
  (ascii(head, 0, 'RIFF') || ascii(head, 0, 'RF64') || ascii(head, 0, 'BW64')) && ascii(head, 8, form)

// ISO base media files open with `ftyp`; old QuickTime files may open with any top-level atom.
const ISO_BOXES = ['ftyp', 'moov', 'mdat', 'wide', 'free', 'skip', 'pnot']

const families = {
  isobmff: { label: 'an MP4/MOV/M4A file', test: (h) => h.length >= 8 && ISO_BOXES.includes(h.toString('latin1', 4, 8)) },
  ebml: { label: 'a Matroska/WebM file', test: (h) => h.length >= 4 && h.readUInt32BE(0) === 0x1a45dfa3 },
  avi: { label: 'an AVI file', test: riff('AVI ') },
  wav: { label: 'a WAV file', test: riff('WAVE') },
  webp: { label: 'a WebP image', test: riff('WEBP') },
  jpeg: { label: 'a JPEG image', test: (h) => h.length >= 3 && h[0] === 0xff && h[1] === 0xd8 && h[2] === 0xff },
  png: { label: 'a PNG image', test: (h) => h.length >= 8 && h.subarray(0, 8).equals(Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])) },
  gif: { label: 'a GIF image', test: (h) => ascii(h, 0, 'GIF87a') || ascii(h, 0, 'GIF89a') },
  // an ID3v2 tag can front MP3 and raw AAC alike
  id3: { label: 'an audio file with an ID3 tag', test: (h) => ascii(h, 0, 'ID3') },
  // MPEG audio frame: 11 sync bits, a version that is not reserved, a layer that is not 00
  mpegAudio: { label: 'an MP3 file', test: (h) => h.length >= 2 && h[0] === 0xff && (h[1]! & 0xe0) === 0xe0 && (h[1]! & 0x18) !== 0x08 && (h[1]! & 0x06) !== 0 },
  // ADTS: 12 sync bits and layer 00
  adts: { label: 'an AAC file', test: (h) => h.length >= 2 && h[0] === 0xff && (h[1]! & 0xf6) === 0xf0 },
  adif: { label: 'an AAC file', test: (h) => ascii(h, 0, 'ADIF') }
} satisfies Record<string, Family>

type FamilyName = keyof typeof families

interface Accepted extends MediaType {
  signatures: FamilyName[]
}

/** The signatures each accepted extension may start with (every accepted type has one). */
const SIGNATURES: Record<string, FamilyName[]> = {
  mp4: ['isobmff'],
  mov: ['isobmff'],
  avi: ['avi'],
  webm: ['ebml'],
  mkv: ['ebml'],
  jpg: ['jpeg'],
  jpeg: ['jpeg'],
  png: ['png'],
  gif: ['gif'],
  webp: ['webp'],
  mp3: ['id3', 'mpegAudio'],
  wav: ['wav'],
  m4a: ['isobmff'],
  aac: ['adts', 'adif', 'id3']
}

const TYPES: Accepted[] = ACCEPTED_FILE_TYPES.map((t) => ({ ...t, signatures: SIGNATURES[t.extension] ?? [] }))

const BY_EXTENSION = new Map(TYPES.map((t) => [t.extension, t]))

export const ACCEPTED_EXTENSIONS: readonly string[] = TYPES.map((t) => t.extension)

const caseless = (text: string): string => [...text].map((c) => /[a-z]/.test(c) ? `[${c}${c.toUpperCase()}]` : c).join('')

/**
 * An http(s) URL whose last path segment names a file of an accepted type: the URL form of
 * the rule `mediaTypeOf` applies to its file name, for the REST schema (so the document
 * refuses what the server would).
 */
export const FILE_URL_PATTERN = `^https?://[^/?#]+/(?:[^?#]*/)?[^/?#]*\\.(?:${TYPES.map((t) => caseless(t.extension)).join('|')})(?:[?#].*)?$`

const ACCEPTED_TEXT = ACCEPTED_FILE_TYPES_TEXT

function extensionOf (filename: string): string {
  const dot = filename.lastIndexOf('.')
  return dot < 0 ? '' : filename.slice(dot + 1).toLowerCase()
}

function unsupported (detail: string, extensions: Record<string, unknown> = {}): GatewayError {
  return gwError('GW_ERR_UNSUPPORTED_MEDIA_TYPE', detail, { extensions: { accepted: ACCEPTED_EXTENSIONS, ...extensions } })
}

/** The accepted type a file name claims, or a 415 naming what is accepted. */
export function mediaTypeOf (filename: string): MediaType {
  const type = BY_EXTENSION.get(extensionOf(filename))
  if (type === undefined) {
    throw unsupported(`${filename || 'A file without a name'}: the extension is not accepted (${ACCEPTED_TEXT})`, { filename })
  }
  return { extension: type.extension, kind: type.kind, mimeType: type.mimeType }
}

/** What the leading bytes look like, for error messages. */
function detect (head: Buffer): string | undefined {
  for (const family of Object.values(families) as Family[]) if (family.test(head)) return family.label
  return undefined
}

/**
 * Checks that a file's first bytes (up to SNIFF_BYTES; fewer only for a shorter file) fit
 * the type its extension claims; throws a 415 saying what the content looks like otherwise.
 */
export function checkSignature (filename: string, type: MediaType, head: Buffer): void {
  const accepted = BY_EXTENSION.get(type.extension)
  if (accepted?.signatures.some((name) => families[name].test(head)) === true) return
  const claimed = type.extension.toUpperCase()
  if (head.length === 0) throw unsupported(`${filename}: the file is empty`, { filename })
  const detected = detect(head)
  throw unsupported(detected === undefined
    ? `${filename}: the content does not look like ${claimed} as the extension says`
    : `${filename}: the content is ${detected}, not ${claimed} as the extension says`, { filename, detected: detected ?? null })
}
