// Turns the gateway's OpenAPI document into TypeScript: one type per component schema, one
// input and one answer type per operation, and a method per operation (named by its
// operationId) on `GeneratedClient`, plus the table the runtime reads (method, path, which
// parameters go where). No dependency beyond Node: the document is plain JSON Schema 2020-12.
//
//   node --import=tsx clients/typescript/scripts/generate.ts [openapi.json] [out.ts]
//
// Without arguments it reads openapi/openapi.json and writes src/generated.ts; the drift test
// (test/clients/typescript-drift.test.ts) calls `generate` and compares with the committed file.
import { readFileSync, writeFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { dirname, join } from 'node:path'

type Schema = Record<string, any>
interface Doc { paths: Record<string, Record<string, any>>, components: { schemas: Record<string, Schema> } }

const METHODS = ['get', 'post', 'put', 'patch', 'delete']
const IDENT = /^[A-Za-z_$][A-Za-z0-9_$]*$/

const key = (name: string): string => IDENT.test(name) ? name : JSON.stringify(name)
const pascal = (id: string): string => id[0]!.toUpperCase() + id.slice(1)
const camel = (name: string): string => name.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())
const doc = (text: unknown, indent: string): string => typeof text === 'string' && text.length > 0
  ? `${indent}/** ${text.replace(/\*\//g, '*\\/').replace(/\n/g, `\n${indent} * `)} */\n`
  : ''

/** A JSON Schema as a TypeScript type. */
function typeOf (s: Schema | undefined, indent = ''): string {
  if (s === undefined || (s as unknown) === true || Object.keys(s).length === 0) return 'unknown'
  if (typeof s.$ref === 'string') return s.$ref.replace('#/components/schemas/', '')
  if (Array.isArray(s.anyOf) || Array.isArray(s.oneOf)) {
    const parts: string[] = [...new Set<string>((s.anyOf ?? s.oneOf).map((x: Schema) => typeOf(x, indent)))]
    return parts.length === 1 ? parts[0]! : parts.map(p => p.includes('\n') ? `(${p})` : p).join(' | ')
  }
  if (Array.isArray(s.allOf)) return s.allOf.map((x: Schema) => typeOf(x, indent)).join(' & ')
  if ('const' in s) return JSON.stringify(s.const)
  if (Array.isArray(s.enum)) return s.enum.map((v: unknown) => JSON.stringify(v)).join(' | ')
  if (Array.isArray(s.type)) return s.type.map((t: string) => typeOf({ ...s, type: t }, indent)).join(' | ')
  switch (s.type) {
    case 'string': return s.format === 'binary' ? 'Blob' : 'string'
    case 'integer':
    case 'number': return 'number'
    case 'boolean': return 'boolean'
    case 'null': return 'null'
    case 'array': {
      const item = typeOf(s.items, indent)
      return /^[A-Za-z0-9_]+$/.test(item) ? `${item}[]` : `Array<${item}>`
    }
    case 'object': return objectType(s, indent)
  }
  if (s.properties !== undefined) return objectType(s, indent)
  return 'unknown'
}

function objectType (s: Schema, indent: string): string {
  const props = Object.entries<Schema>(s.properties ?? {})
  const required = new Set<string>(s.required ?? [])
  const inner = indent + '  '
  const lines = props.map(([name, p]) =>
    `${doc(p.description, inner)}${inner}${key(name)}${required.has(name) ? '' : '?'}: ${typeOf(p, inner)}`)
  if (s.additionalProperties === true || (s.additionalProperties === undefined && props.length === 0)) lines.push(`${inner}[key: string]: unknown`)
  else if (typeof s.additionalProperties === 'object') lines.push(`${inner}[key: string]: ${typeOf(s.additionalProperties, inner)}`)
  if (lines.length === 0) return 'Record<string, never>'
  return `{\n${lines.join('\n')}\n${indent}}`
}

interface Param { name: string, in: 'path' | 'query' | 'header', required?: boolean, schema?: Schema, description?: string }

/** The headers the client sets itself (auth, user, idempotency, SSE resume, ranges). */
const CLIENT_HEADERS = new Set(['authorization', 'x-user-id', 'idempotency-key', 'last-event-id', 'accept', 'content-type'])

export function generate (document: Doc): string {
  const out: string[] = [
    '// Generated from openapi/openapi.json by clients/typescript/scripts/generate.ts. Do not edit:',
    '// run `npm run client:generate` at the repository root (a test fails when this file drifts).',
    '/* eslint-disable */',
    '',
    '// ---- Schemas (components.schemas) ----',
    ''
  ]
  for (const [name, schema] of Object.entries(document.components.schemas)) {
    out.push(`${doc(schema.description ?? schema.title, '')}export type ${name} = ${typeOf(schema)}`, '')
  }

  const table: string[] = []
  const methods: string[] = []
  out.push('// ---- Operations ----', '')
  for (const [path, item] of Object.entries(document.paths)) {
    for (const method of METHODS) {
      const op = item[method]
      if (op === undefined) continue
      const id: string = op.operationId
      if (typeof id !== 'string') throw new Error(`${method.toUpperCase()} ${path} has no operationId`)
      const params: Param[] = [...(item.parameters ?? []), ...(op.parameters ?? [])]
      const pathParams = params.filter(p => p.in === 'path')
      const queryParams = params.filter(p => p.in === 'query')
      const headerParams = params.filter(p => p.in === 'header' && !CLIENT_HEADERS.has(p.name.toLowerCase()))
      const content: Record<string, { schema?: Schema }> = op.requestBody?.content ?? {}
      const json = content['application/json']?.schema
      const multipart = content['multipart/form-data'] !== undefined
      const bodyTypes = [json !== undefined ? typeOf(json, '  ') : undefined, multipart ? 'FormData' : undefined].filter(Boolean)
      const bodyOptional = op.requestBody?.required !== true || (json !== undefined && (json.required ?? []).length === 0 && !multipart)

      const fields: string[] = []
      for (const p of [...pathParams, ...queryParams]) {
        fields.push(`${doc(p.description ?? p.schema?.description, '  ')}  ${key(p.name)}${p.in === 'path' || p.required === true ? '' : '?'}: ${typeOf(p.schema, '  ')}`)
      }
      for (const p of headerParams) {
        fields.push(`${doc(p.description ?? `The \`${p.name}\` header`, '  ')}  ${key(camel(p.name))}${p.required === true ? '' : '?'}: ${typeOf(p.schema, '  ')}`)
      }
      if (bodyTypes.length > 0) fields.push(`  body${bodyOptional ? '?' : ''}: ${bodyTypes.join(' | ')}`)
      const inputRequired = fields.some(f => /^\s*[^?\s/*]+: /m.test(f.split('\n').at(-1)!))
      out.push(`export type ${pascal(id)}Input = ${fields.length === 0 ? 'Record<string, never>' : `{\n${fields.join('\n')}\n}`}`, '')

      const answers: string[] = []
      const success: number[] = []
      let binary = false
      for (const [code, res] of Object.entries<any>(op.responses ?? {})) {
        const status = Number(code)
        if (!(status >= 200 && status < 400)) continue
        success.push(status)
        const c = res.content ?? {}
        if (c['application/json'] !== undefined) answers.push(typeOf(c['application/json'].schema))
        else if (Object.keys(c).some(t => t !== 'text/event-stream')) binary = true
        else if (Object.keys(c).length === 0 && status === 204) answers.push('void')
      }
      const answer = binary ? 'Response' : ([...new Set(answers)].map(a => a.includes('\n') && answers.length > 1 ? `(${a})` : a).join(' | ') || 'void')
      out.push(`export type ${pascal(id)}Response = ${answer}`, '')

      const security = Array.isArray(op.security) && op.security.length > 0 ? Object.keys(op.security[0])[0] : (op.security === undefined ? 'apiKey' : null)
      const idempotent = params.some(p => p.in === 'header' && p.name.toLowerCase() === 'idempotency-key')
      table.push(`  ${id}: { method: '${method.toUpperCase()}', path: '${path}', path_: ${JSON.stringify(pathParams.map(p => p.name))}, query: ${JSON.stringify(queryParams.map(p => p.name))}, headers: ${JSON.stringify(Object.fromEntries(headerParams.map(p => [camel(p.name), p.name])))}, body: ${bodyTypes.length > 0}, idempotencyKey: ${idempotent && method !== 'get'}, answer: '${binary ? 'raw' : answer === 'void' ? 'none' : 'json'}', auth: ${security === null ? 'null' : `'${security}'`} },`)
      const summary = [op.summary, op.description].filter(Boolean).join('\n\n')
      methods.push(`${doc(`${summary}\n\n\`${method.toUpperCase()} ${path}\``, '  ')}  ${id} (input${inputRequired ? '' : '?'}: ${pascal(id)}Input, options?: RequestOptions): Promise<${pascal(id)}Response> {\n    return this.request('${id}', input ?? {}, options) as Promise<${pascal(id)}Response>\n  }\n`)
    }
  }

  out.push(
    '/** How the runtime calls each operation: method, path template and where each input goes. */',
    'export const operations = {',
    ...table.map(l => l.replace('path_:', 'pathParams:')),
    '} as const',
    '',
    'export type OperationId = keyof typeof operations',
    '',
    '/** Per-call options every method takes. */',
    'export interface RequestOptions {',
    '  /** The end user this call acts for (`X-User-Id`); defaults to the client\'s `userId`. */',
    '  userId?: string',
    '  /** The `Idempotency-Key` for a POST; one is made up (and kept across retries) when absent. */',
    '  idempotencyKey?: string',
    '  /** Extra request headers (e.g. `range` for a download). */',
    '  headers?: Record<string, string>',
    '  /** Retries after a 429/502/503 or a dropped connection; defaults to the client\'s. */',
    '  retries?: number',
    '  signal?: AbortSignal',
    '}',
    '',
    '/** One typed method per operation, named by its operationId. */',
    'export abstract class GeneratedClient {',
    '  protected abstract request (operation: OperationId, input: Record<string, unknown>, options?: RequestOptions): Promise<unknown>',
    '',
    ...methods,
    '}',
    ''
  )
  return out.join('\n').replace(/[ \t]+$/gm, '')
}

const here = dirname(fileURLToPath(import.meta.url))
export const DEFAULT_DOCUMENT = join(here, '../../../openapi/openapi.json')
export const DEFAULT_OUTPUT = join(here, '../src/generated.ts')

if (process.argv[1] !== undefined && fileURLToPath(import.meta.url) === process.argv[1]) {
  const input = process.argv[2] ?? DEFAULT_DOCUMENT
  const output = process.argv[3] ?? DEFAULT_OUTPUT
  writeFileSync(output, generate(JSON.parse(readFileSync(input, 'utf8')) as Doc))
  console.log(`wrote ${output}`)
}
