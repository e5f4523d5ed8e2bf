// JSON from the upstream, with ids kept exact. A session id is a 19-digit snowflake; the
// contract shows it as a string, but one sent as a JSON number must not pass through a JS
// number (5529798706024415232 would become 5529798706024415000). JSON.parse stays the fast
// path: only a text holding an integer literal too long to be safe takes the lossless parser,
// which keeps such integers as their exact decimal strings (ids are strings anyway).
import { isInteger, parse } from 'lossless-json'

// a number token (after `:`, `[` or `,`) of 16 or more digits: 2^53 has 16
const LONG_INTEGER = /[:[,]\s*-?\d{16,}/

/** JSON.parse, except that integers beyond Number.MAX_SAFE_INTEGER come back as exact strings. */
export function parseUpstreamJson (text: string): unknown {
  if (!LONG_INTEGER.test(text)) return JSON.parse(text)
  return parse(text, undefined, exactNumber)
}

function exactNumber (literal: string): number | string {
  const n = Number(literal)
  return isInteger(literal) && !Number.isSafeInteger(n) ? literal : n
}
