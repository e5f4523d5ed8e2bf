// Arguments checked against the same schemas REST validates with (src/inputs.ts), so a value
// REST refuses with GW_ERR_VALIDATION is refused here with the same code and limits.
import type { TSchema } from 'typebox'
import { Value } from 'typebox/value'
import { gwError } from '../errors.ts'
import { EventCursorSchema, IDEMPOTENCY_KEY, LanguageSchema, MESSAGE_MAX, MessageTextSchema, PageCursorSchema, ResolutionSchema, TITLE_MAX, TitleSchema } from '../inputs.ts'

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i
const MAX_CURSOR = (1n << 63n) - 1n

function valid (schema: TSchema, value: unknown): boolean {
  return Value.Check(schema, value)
}

function invalid (arg: string, message: string): never {
  throw gwError('GW_ERR_VALIDATION', `${arg} ${message}`, {
    extensions: { errors: [{ in: 'arguments', path: `/${arg}`, message }] }
  })
}

export function uuidArg (arg: string, value: string): string {
  if (!UUID.test(value)) invalid(arg, 'must be a UUID')
  return value
}

/** A page size: absent or null means the default. */
export function pageArg (arg: string, value: number | null | undefined, fallback: number, max: number): number {
  if (value === null || value === undefined) return fallback
  if (value < 1 || value > max) invalid(arg, `must be between 1 and ${max}`)
  return value
}

/** An opaque page cursor from an earlier page (its content is checked by the domain). */
export function pageCursorArg (arg: string, value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined
  if (!valid(PageCursorSchema, value)) invalid(arg, 'must be a cursor from an earlier page')
  return value
}

/** An event-log cursor: absent means "from the beginning". */
export function eventCursorArg (arg: string, value: string | null | undefined): bigint {
  if (value === null || value === undefined) return 0n
  if (!valid(EventCursorSchema, value) || BigInt(value) > MAX_CURSOR) invalid(arg, 'must be an event cursor (a decimal string)')
  return BigInt(value)
}

export function textArg (arg: string, value: string): string {
  if (!valid(MessageTextSchema, value)) invalid(arg, `must be 1 to ${MESSAGE_MAX} characters`)
  return value
}

export function sessionInput (language: string | null | undefined, title: string | null | undefined): { language?: string, title?: string } {
  const input: { language?: string, title?: string } = {}
  if (language !== null && language !== undefined) {
    if (!valid(LanguageSchema, language)) invalid('language', 'must be a language tag such as en or zh-CN')
    input.language = language
  }
  if (title !== null && title !== undefined) {
    if (!valid(TitleSchema, title)) invalid('title', `must be 1 to ${TITLE_MAX} characters`)
    input.title = title
  }
  return input
}

export function resolutionArg (value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined
  if (!valid(ResolutionSchema, value)) invalid('resolution', 'must look like 1080p, 720p or 1920x1080')
  return value
}

export function idempotencyKeyArg (value: string | null | undefined): string | undefined {
  if (value === null || value === undefined) return undefined
  if (!IDEMPOTENCY_KEY.test(value)) invalid('idempotencyKey', 'must be 1-255 printable ASCII characters')
  return value
}
