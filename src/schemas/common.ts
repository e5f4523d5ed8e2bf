// Shapes every resource schema uses.
import { Type } from 'typebox'

/** Dates leave as ISO 8601 strings; handlers return Date objects. */
export const DateTime = Type.Unsafe<Date>({ type: 'string', format: 'date-time' })
