// Opaque pagination cursors: base64url of the sort key of the last item on a page.
import { gwError } from '../errors.ts'

export function encodeCursor (createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url')
}

export function decodeCursor (cursor: string): { createdAt: Date, id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const createdAt = new Date(iso ?? '')
  if (!id || Number.isNaN(createdAt.getTime())) throw gwError('GW_ERR_VALIDATION', 'The cursor is not one this API gave out')
  return { createdAt, id }
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}
