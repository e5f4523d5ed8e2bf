// Opaque pagination cursors: base64url of the sort key of the last item on a page.
import { gwError } from '../../errors.ts'

function encodeCursor (createdAt: Date, id: string): string {
  return Buffer.from(`${createdAt.toISOString()}|${id}`).toString('base64url')
}

function decodeCursor (cursor: string): { createdAt: Date, id: string } {
  const [iso, id] = Buffer.from(cursor, 'base64url').toString('utf8').split('|')
  const createdAt = new Date(iso ?? '')
  if (!id || Number.isNaN(createdAt.getTime())) throw gwError('GW_ERR_VALIDATION', 'The cursor is not one this API gave out')
  return { createdAt, id }
}

export interface Page<T> {
  items: T[]
  nextCursor: string | null
}

/** Rows newer-first with their sort key: the where clause for the page after `cursor`. */
export function after<K extends string> (cursor: string | undefined, key: K): Array<Record<K, { lt: Date }> | (Record<K, Date> & { id: { lt: string } })> | undefined {
  if (!cursor) return undefined
  const c = decodeCursor(cursor)
  return [{ [key]: { lt: c.createdAt } } as Record<K, { lt: Date }>, { [key]: c.createdAt, id: { lt: c.id } } as Record<K, Date> & { id: { lt: string } }]
}

/** A page from `limit + 1` rows fetched newest first: the extra row says there is more. */
export function pageOf<R extends { id: string }, V> (rows: R[], limit: number, at: (row: R) => Date, view: (row: R) => V): Page<V> {
  const items = rows.slice(0, limit)
  const last = items[items.length - 1]
  return { items: items.map(view), nextCursor: rows.length > limit && last ? encodeCursor(at(last), last.id) : null }
}
