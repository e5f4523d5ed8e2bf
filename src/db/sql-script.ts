// A migration script cut into its statements. Prisma's pg adapter cuts a script at every `;`,
// which breaks a function body (`$$ ... ; ... $$`); this cut skips what is quoted: strings
// ('...', E'...'), identifiers ("..."), dollar-quoted bodies ($$...$$, $tag$...$tag$) and
// comments (-- to the line's end, /* ... */, nested), as Postgres reads them.

const DOLLAR_TAG = /\$([A-Za-z_\u0080-\uffff][\w\u0080-\uffff]*)?\$/y

/** The statements of `script`, trimmed, without empty ones (a lone comment is kept as is). */
export function splitSqlScript (script: string): string[] {
  const statements: string[] = []
  let start = 0
  let i = 0
  const n = script.length
  const skipTo = (end: number) => { i = end < 0 ? n : end }
  while (i < n) {
    const c = script[i]!
    const next = script[i + 1]
    if (c === '-' && next === '-') {
      skipTo(script.indexOf('\n', i + 2))
    } else if (c === '/' && next === '*') {
      let depth = 1
      i += 2
      while (i < n && depth > 0) {
        if (script[i] === '/' && script[i + 1] === '*') { depth++; i += 2 } else if (script[i] === '*' && script[i + 1] === '/') { depth--; i += 2 } else i++
      }
    } else if (c === '\'' || c === '"') {
      // a doubled quote inside is the quote itself; E'...' strings also take \' (backslash escapes)
      const escapes = c === '\'' && i > 0 && /[eE]/.test(script[i - 1]!) && !/[\w$]/.test(script[i - 2] ?? ' ')
      i++
      while (i < n) {
        if (escapes && script[i] === '\\') { i += 2; continue }
        if (script[i] === c) {
          if (script[i + 1] === c) { i += 2; continue }
          break
        }
        i++
      }
      i++
    } else if (c === '$' && !/[\w$]/.test(script[i - 1] ?? ' ')) {
      DOLLAR_TAG.lastIndex = i
      const tag = DOLLAR_TAG.exec(script)
      if (tag === null) {
        i++
      } else {
        const end = script.indexOf(tag[0], i + tag[0].length)
        skipTo(end < 0 ? -1 : end + tag[0].length)
      }
    } else if (c === ';') {
      statements.push(script.slice(start, i))
      i++
      start = i
    } else {
      i++
    }
  }
  statements.push(script.slice(start))
  return statements.map((s) => s.trim()).filter((s) => s.length > 0)
}
