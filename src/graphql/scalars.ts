// The two custom scalars: DateTime leaves as ISO 8601 (as REST's date-time strings do) and
// JSON passes upstream data through untouched.
import { GraphQLError, Kind, valueFromASTUntyped, type ValueNode } from 'graphql'

export const DateTime = {
  serialize (value: unknown): string {
    const date = value instanceof Date ? value : new Date(String(value))
    if (Number.isNaN(date.getTime())) throw new GraphQLError('DateTime cannot represent an invalid date')
    return date.toISOString()
  },
  parseValue (value: unknown): Date {
    const date = new Date(String(value))
    if (typeof value !== 'string' || Number.isNaN(date.getTime())) throw new GraphQLError('DateTime must be an ISO 8601 string')
    return date
  },
  parseLiteral (ast: ValueNode): Date {
    if (ast.kind !== Kind.STRING) throw new GraphQLError('DateTime must be an ISO 8601 string', { nodes: ast })
    return DateTime.parseValue(ast.value)
  }
}

export const JSONScalar = {
  serialize: (value: unknown): unknown => value,
  parseValue: (value: unknown): unknown => value,
  parseLiteral: (ast: ValueNode, variables?: Record<string, unknown> | null): unknown => valueFromASTUntyped(ast, variables)
}
