// Every behaviour of the simulator that looks random comes from here, so one seed replays a
// whole test run: same ids, same silent edits, same render failures. Math.random is not used.

const B64URL = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
const ALNUM = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789'

export class Prng {
  private s: number

  constructor (seed: number) {
    this.s = seed >>> 0
  }

  /** mulberry32: tiny, fast and good enough for ids and coin flips. */
  next (): number {
    this.s = (this.s + 0x6D2B79F5) >>> 0
    let t = this.s
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }

  int (n: number): number {
    return Math.floor(this.next() * n)
  }

  chars (alphabet: string, n: number): string {
    let out = ''
    for (let i = 0; i < n; i++) out += alphabet[this.int(alphabet.length)]
    return out
  }

  hex (n: number): string {
    return this.chars('0123456789abcdef', n)
  }

  base64url (n: number): string {
    return this.chars(B64URL, n)
  }

  alnum (n: number): string {
    return this.chars(ALNUM, n)
  }

  /** A 19-digit snowflake-looking id, never starting with 0. */
  snowflake (): string {
    return String(1 + this.int(9)) + this.chars('0123456789', 18)
  }

  uuid (): string {
    const h = this.hex(32)
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-4${h.slice(13, 16)}-${'89ab'[this.int(4)]}${h.slice(17, 20)}-${h.slice(20)}`
  }
}

/**
 * A stable value in [0, 1) for (seed, key), independent of call order: a render's fate must not
 * change because another request happened to arrive first.
 */
export function unitHash (seed: number, key: string): number {
  let h = 0x811c9dc5 ^ (seed >>> 0)
  for (let i = 0; i < key.length; i++) {
    h ^= key.charCodeAt(i)
    h = Math.imul(h, 0x01000193)
  }
  h ^= h >>> 16
  h = Math.imul(h, 0x85ebca6b)
  h ^= h >>> 13
  return (h >>> 0) / 4294967296
}
