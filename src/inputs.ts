// The limits of what callers may send, defined once: REST route schemas use these schemas,
// and GraphQL checks its arguments against the very same ones, so both surfaces accept and
// refuse the same values.
import { Type } from 'typebox'

export const LanguageSchema = Type.String({ minLength: 2, maxLength: 16, pattern: '^[A-Za-z]{2,3}([-_][A-Za-z0-9]{2,8})*$', description: 'A language tag such as en or zh-CN' })
export const TITLE_MAX = 200
export const MESSAGE_MAX = 8000
export const TitleSchema = Type.String({ minLength: 1, maxLength: TITLE_MAX })
export const MessageTextSchema = Type.String({ minLength: 1, maxLength: MESSAGE_MAX })
export const PageCursorSchema = Type.String({ minLength: 1, maxLength: 512 })
export const EventCursorSchema = Type.String({ pattern: '^\\d{1,19}$' })
export const PAGE_LIMIT = { default: 20, max: 100 }
export const EVENT_PAGE_LIMIT = { default: 100, max: 1000 }
/** An Idempotency-Key (REST header, GraphQL argument). */
export const IDEMPOTENCY_KEY = /^[\x21-\x7e]{1,255}$/
/**
 * The Idempotency-Key header as sent: the key itself, or the key as a quoted sf-string
 * (`"..."`), so 1-255 printable ASCII characters either way (the REST schema and the
 * idempotency plugin accept exactly the same values).
 */
export const IdempotencyKeyHeaderSchema = Type.String({
  pattern: '^(?!""$)(?:[\\x21-\\x7e]{1,255}|"[\\x21-\\x7e]{1,255}")$',
  description: 'Makes a POST safe to retry for 24 h: 1-255 printable ASCII characters (no spaces), optionally in double quotes'
})
/**
 * A point in time a caller sends: RFC 3339 in years 1-9999. Year 0 passes the date-time
 * format but is no date Postgres knows (it has no year 0), and later years are not RFC 3339.
 */
export const TimeInputSchema = Type.String({ format: 'date-time', pattern: '^(?!0000)\\d{4}-', description: 'RFC 3339 date-time, years 0001-9999, e.g. 2026-05-01T00:00:00Z' })
export const ResolutionSchema = Type.String({ pattern: '^(?:\\d{3,4}p|\\d{3,4}x\\d{3,4}|4k)$', description: 'e.g. 1080p, 720p or 1920x1080' })
