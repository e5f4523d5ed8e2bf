// The file types the upstream accepts (contract §3.5, plus .jpeg which NemoVideo's own client
// sends): the one definition. The upload check (domain/media-types), the 4001 detail, the say
// "upload" answer and the upload route's documentation are all derived from it.
type MediaKind = 'video' | 'image' | 'audio'

export interface FileType {
  extension: string
  kind: MediaKind
  mimeType: string
}

export const ACCEPTED_FILE_TYPES: readonly FileType[] = [
  { extension: 'mp4', kind: 'video', mimeType: 'video/mp4' },
  { extension: 'mov', kind: 'video', mimeType: 'video/quicktime' },
  { extension: 'avi', kind: 'video', mimeType: 'video/x-msvideo' },
  { extension: 'webm', kind: 'video', mimeType: 'video/webm' },
  { extension: 'mkv', kind: 'video', mimeType: 'video/x-matroska' },
  { extension: 'jpg', kind: 'image', mimeType: 'image/jpeg' },
  { extension: 'jpeg', kind: 'image', mimeType: 'image/jpeg' },
  { extension: 'png', kind: 'image', mimeType: 'image/png' },
  { extension: 'gif', kind: 'image', mimeType: 'image/gif' },
  { extension: 'webp', kind: 'image', mimeType: 'image/webp' },
  { extension: 'mp3', kind: 'audio', mimeType: 'audio/mpeg' },
  { extension: 'wav', kind: 'audio', mimeType: 'audio/wav' },
  { extension: 'm4a', kind: 'audio', mimeType: 'audio/mp4' },
  { extension: 'aac', kind: 'audio', mimeType: 'audio/aac' }
]

/** e.g. "video: mp4, mov, avi, webm, mkv; image: jpg, ...; audio: mp3, ..." */
export const ACCEPTED_FILE_TYPES_TEXT = (['video', 'image', 'audio'] as const)
  .map((kind) => `${kind}: ${ACCEPTED_FILE_TYPES.filter((f) => f.kind === kind).map((f) => f.extension).join(', ')}`)
  .join('; ')
