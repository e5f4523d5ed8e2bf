// The published OpenAPI document as a response validator: a test that sees an answer asks
// whether the document promised it. The status must be documented for the operation, the
// content type must be one the document names for that status (no content for a bodiless
// answer), the documented headers that are required must be there, and a JSON body (or every
// `data:` of an event stream) must match the documented schema. This is what a validating
// proxy (Prism's `--errors`) or a generated client checks; doing it in the test helper checks
// every answer the journeys see, without a proxy in the way.
import { readFileSync } from 'node:fs'
import { Ajv, type ValidateFunction } from 'ajv'
import addFormatsModule from 'ajv-formats'

const addFormats = addFormatsModule as unknown as (ajv: Ajv) => Ajv

interface Media { schema?: unknown, 'x-event-data'?: unknown }
interface ResponseDoc { content?: Record<string, Media>, headers?: Record<string, { required?: boolean }> }
interface ParameterDoc { in: string, name: string, required?: boolean }
interface OperationDoc { operationId?: string, parameters?: ParameterDoc[], responses: Record<string, ResponseDoc> }
export interface OpenApiDoc {
  paths: Record<string, Record<string, OperationDoc>>
  components: Record<string, unknown>
}

/** What a test saw: enough of any client's response to check it. */
interface SeenResponse {
  statusCode: number
  headers: Record<string, unknown>
  /** The body as text (JSON answers), absent for a streamed or binary body. */
  body?: string
}

export interface Contract {
  doc: OpenApiDoc
  /** Mismatches between what the document says and what this response is ([] when none). */
  check: (method: string, url: string, res: SeenResponse) => string[]
  /** The data of each event of a text/event-stream answer against the documented event schema. */
  checkEvents: (method: string, url: string, events: Array<{ event?: string, data: string }>) => string[]
  /** How many responses were checked, by operation ("POST /v1/sessions 201"). */
  seen: Map<string, number>
}

export function loadContract (doc: OpenApiDoc = JSON.parse(readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8'))): Contract {
  const ajv = addFormats(new Ajv({ strict: false, allErrors: true, discriminator: true }))
  // Ajv reads `discriminator` (focused errors: the member for this `type`) but not its OpenAPI `mapping`
  const components = JSON.parse(JSON.stringify(doc.components), (key, value) => key === 'mapping' && typeof value === 'object' ? undefined : value)
  const compiled = new Map<unknown, ValidateFunction>()
  const validate = (schema: unknown, value: unknown): string | null => {
    let fn = compiled.get(schema)
    if (!fn) {
      fn = ajv.compile({ ...(schema as object), components })
      compiled.set(schema, fn)
    }
    return fn(value) ? null : ajv.errorsText(fn.errors, { dataVar: 'body' })
  }

  // a literal segment beats a parameter: /v1/exports/{exportId} never shadows a literal path
  const templates = Object.keys(doc.paths).map((path) => {
    const segments = path.split('/')
    const pattern = new RegExp('^' + segments.map((s) => /^\{[^}]+\}$/.test(s) ? '[^/]+' : s.replace(/[.*+?^$()|[\]\\]/g, '\\$&')).join('/') + '$')
    return { path, pattern, literals: segments.filter((s) => !s.startsWith('{')).length }
  }).sort((a, b) => b.literals - a.literals)

  const find = (method: string, url: string): { name: string, op: OperationDoc | undefined, others: OperationDoc[] } | null => {
    const path = url.split('?')[0]!.replace(/(.)\/$/, '$1')
    const template = templates.find((t) => t.pattern.test(path))
    if (!template) return null
    const m = method.toLowerCase()
    const ops = doc.paths[template.path]!
    const op = ops[m] ?? (m === 'head' ? ops.get : undefined)
    return { name: `${method.toUpperCase()} ${template.path}`, op, others: Object.values(ops) }
  }

  const seen = new Map<string, number>()

  const documentedFor = (op: OperationDoc, status: number): ResponseDoc | undefined =>
    op.responses[String(status)] ?? op.responses[`${String(status)[0]}XX`] ?? op.responses.default

  const check = (method: string, url: string, res: SeenResponse): string[] => {
    const found = find(method, url)
    if (!found) return [] // not a documented path (/graphql, /metrics, /problems, /docs)
    const { name, others } = found
    const where = `${name} -> ${res.statusCode}`
    seen.set(`${name} ${res.statusCode}`, (seen.get(`${name} ${res.statusCode}`) ?? 0) + 1)
    // a method the path does not serve: its 405 is the one the path's operations document
    const op = found.op ?? { responses: res.statusCode === 405 ? Object.fromEntries(others.flatMap((o) => o.responses['405'] ? [['405', o.responses['405']]] : []).slice(0, 1)) : {} }
    if (Object.keys(op.responses).length === 0) return [`${where}: the method is not documented for this path`]
    const documented = documentedFor(op, res.statusCode)
    if (!documented) return [`${where}: status not documented (documented: ${Object.keys(op.responses).join(', ')})`]
    const out: string[] = []
    // what a validating proxy refuses before the server sees it: a required parameter left out
    if (found.op && res.statusCode < 400) {
      const query = new URLSearchParams(url.split('?')[1] ?? '')
      for (const p of found.op.parameters ?? []) {
        if (p.in === 'query' && p.required === true && !query.has(p.name)) out.push(`${where}: the document requires query parameter ${p.name}, the server answered without it`)
      }
    }
    for (const [header, h] of Object.entries(documented.headers ?? {})) {
      if (h.required === true && res.headers[header.toLowerCase()] === undefined) out.push(`${where}: documented header ${header} missing`)
    }
    const type = String(res.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase()
    const media = documented.content ?? {}
    if (Object.keys(media).length === 0) {
      if (type !== '' && (res.body ?? '').length > 0) out.push(`${where}: a body (${type}) where the document says none`)
      return out
    }
    if (type === '') {
      if (method.toUpperCase() !== 'HEAD') out.push(`${where}: no content type (documented: ${Object.keys(media).join(', ')})`)
      return out
    }
    const entry = media[type] ?? Object.entries(media).find(([k]) => k.endsWith('/*') && type.startsWith(k.slice(0, -1)))?.[1]
    if (!entry) {
      out.push(`${where}: content type ${type} not documented (documented: ${Object.keys(media).join(', ')})`)
      return out
    }
    if (/json$/.test(type) && res.body !== undefined && entry.schema !== undefined && method.toUpperCase() !== 'HEAD') {
      let body: unknown
      try { body = JSON.parse(res.body) } catch { out.push(`${where}: ${type} body is not JSON`); return out }
      const error = validate(entry.schema, body)
      if (error !== null) out.push(`${where}: body does not match the documented schema: ${error}`)
    }
    return out
  }

  const checkEvents = (method: string, url: string, events: Array<{ event?: string, data: string }>): string[] => {
    const found = find(method, url)
    if (!found) return []
    const schema = found.op?.responses['200']?.content?.['text/event-stream']?.['x-event-data']
    if (schema === undefined) return [`${found.name}: no documented event schema (x-event-data) for text/event-stream`]
    const out: string[] = []
    for (const e of events) {
      let data: unknown
      try { data = JSON.parse(e.data) } catch { out.push(`${found.name}: event ${e.event ?? 'message'}: data is not JSON`); continue }
      const error = validate(schema, data)
      if (error !== null) out.push(`${found.name}: event ${e.event ?? 'message'} does not match the documented schema: ${error}`)
      const type = (data as { type?: unknown } | null)?.type
      if (e.event !== undefined && e.event !== 'error' && type !== e.event) out.push(`${found.name}: event name ${e.event} but data.type ${String(type)}`)
    }
    return out
  }

  return { doc, check, checkEvents, seen }
}
