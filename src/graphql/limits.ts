// Depth and cost limits, checked before an operation runs, over HTTP and WebSocket alike.
// Cost: every field selection costs 1 (scalars, aliases and `__typename` too: 50,000 aliases
// of one field are 50,000 resolver calls), a field marked `@cost(weight: n)` in the SDL costs n
// (the upstream calls), and a field with a `first` or `limit` argument multiplies the cost of
// its selection by that page size. The page size comes from the request's literal or
// variable, else the argument's default; on a subscription, whose variables the hook does not
// see, a variable counts as the page maximum.
// Introspection (`__schema`, `__type`) is held to its own, larger depth so GraphiQL's
// introspection query passes; its selections count toward the cost like any other.
// Before any of that, a document's size is checked, before it is parsed: parsing is the one
// step whose cost grows with the text alone (four 900 KB documents held the event loop ~0.5 s).
import {
  getNamedType, isInterfaceType, isObjectType, Kind, SchemaMetaFieldDef, TypeMetaFieldDef, valueFromAST,
  type DocumentNode, type FieldNode, type FragmentDefinitionNode, type GraphQLError, type GraphQLField,
  type GraphQLNamedType, type GraphQLSchema, type OperationDefinitionNode, type SelectionSetNode
} from 'graphql'
import { catalogError } from './errors.ts'

export const MAX_DEPTH = 10
export const MAX_COST = 10_000
/**
 * A running subscription keeps its parsed document for as long as it runs (its text, and about
 * 0.3 KB per token without locations), so its document is held to less than a query's: a real
 * one has 20-60 tokens in a few hundred bytes.
 */
export const MAX_SUBSCRIPTION_TOKENS = 300
export const MAX_SUBSCRIPTION_DOCUMENT_BYTES = 8 * 1024
const MAX_INTROSPECTION_DEPTH = 20
/** A page size larger than any field allows counts as this (the resolver refuses it anyway). */
const MAX_MULTIPLIER = 1000
const PAGE_ARGS = ['first', 'limit']

export interface Measure {
  depth: number
  cost: number
  introspectionDepth: number
}

interface Walk {
  schema: GraphQLSchema
  fragments: Map<string, FragmentDefinitionNode>
  variables: Record<string, unknown> | undefined
}

function weightOf (field: GraphQLField<unknown, unknown>): number | undefined {
  const directive = field.astNode?.directives?.find(d => d.name.value === 'cost')
  const arg = directive?.arguments?.find(a => a.name.value === 'weight')
  return arg?.value.kind === Kind.INT ? Number(arg.value.value) : undefined
}

function pageSize (field: GraphQLField<unknown, unknown>, node: FieldNode, variables: Record<string, unknown> | undefined): number {
  for (const name of PAGE_ARGS) {
    const def = field.args.find(a => a.name === name)
    if (!def) continue
    const given = node.arguments?.find(a => a.name.value === name)
    let value: unknown = def.defaultValue
    if (given) {
      value = given.value.kind === Kind.VARIABLE && variables === undefined
        ? MAX_MULTIPLIER
        : valueFromAST(given.value, def.type, variables) ?? def.defaultValue
    }
    const n = typeof value === 'number' && Number.isFinite(value) ? value : MAX_MULTIPLIER
    return Math.min(Math.max(1, Math.trunc(n)), MAX_MULTIPLIER)
  }
  return 1
}

function fieldOf (schema: GraphQLSchema, type: GraphQLNamedType, name: string): GraphQLField<unknown, unknown> | undefined {
  // the introspection entry points are not fields of the query type
  if (type === schema.getQueryType()) {
    if (name === SchemaMetaFieldDef.name) return SchemaMetaFieldDef
    if (name === TypeMetaFieldDef.name) return TypeMetaFieldDef
  }
  return isObjectType(type) || isInterfaceType(type) ? type.getFields()[name] : undefined
}

function measureSelections (w: Walk, type: GraphQLNamedType, set: SelectionSetNode, depth: number, inIntrospection: boolean, seen: Set<string>): Measure {
  const out: Measure = { depth: inIntrospection ? 0 : depth, cost: 0, introspectionDepth: 0 }
  const take = (m: Measure) => {
    out.depth = Math.max(out.depth, m.depth)
    out.introspectionDepth = Math.max(out.introspectionDepth, m.introspectionDepth)
    out.cost += m.cost
  }
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      const name = selection.name.value
      const introspection = inIntrospection || name.startsWith('__')
      if (introspection) out.introspectionDepth = Math.max(out.introspectionDepth, depth + 1)
      else out.depth = Math.max(out.depth, depth + 1)
      const field = fieldOf(w.schema, type, name)
      if (!field || !selection.selectionSet) {
        out.cost += (field && weightOf(field)) ?? 1
        continue
      }
      const child = measureSelections(w, getNamedType(field.type), selection.selectionSet, depth + 1, introspection, seen)
      const own = weightOf(field) ?? 1
      take({ ...child, cost: own + pageSize(field, selection, w.variables) * child.cost })
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = selection.typeCondition ? w.schema.getType(selection.typeCondition.name.value) ?? type : type
      take(measureSelections(w, on, selection.selectionSet, depth, inIntrospection, seen))
    } else {
      const name = selection.name.value
      const fragment = w.fragments.get(name)
      // a cycle is a validation error of its own; here it only must not loop
      if (!fragment || seen.has(name)) continue
      const on = w.schema.getType(fragment.typeCondition.name.value) ?? type
      take(measureSelections(w, on, fragment.selectionSet, depth, inIntrospection, new Set([...seen, name])))
    }
  }
  return out
}

/** Depth and cost of every operation of a document. */
export function measure (schema: GraphQLSchema, document: DocumentNode, variables?: Record<string, unknown>): Map<OperationDefinitionNode, Measure> {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  const w: Walk = { schema, fragments, variables }
  const out = new Map<OperationDefinitionNode, Measure>()
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue
    const root = schema.getRootType(d.operation)
    if (root) out.set(d, measureSelections(w, root, d.selectionSet, 0, false, new Set()))
  }
  return out
}

/** A document longer than `maxBytes` (UTF-8), as the error that says so; checked before parsing. */
export function checkDocumentSize (source: string, maxBytes: number): GraphQLError | null {
  // a UTF-8 byte is at least one UTF-16 unit and at most three: count only when it matters
  if (source.length * 3 <= maxBytes) return null
  const bytes = Buffer.byteLength(source)
  if (bytes <= maxBytes) return null
  return catalogError('GW_ERR_PAYLOAD_TOO_LARGE',
    `The GraphQL document is ${bytes} bytes; the limit is ${maxBytes}. Send a smaller document (values belong in variables)`,
    { limit: 'documentSize', bytes, maxBytes })
}

/** The first limit a document breaks, as an error that says which and by how much. */
export function checkLimits (schema: GraphQLSchema, document: DocumentNode, variables?: Record<string, unknown>): GraphQLError | null {
  for (const [operation, m] of measure(schema, document, variables)) {
    const name = operation.name ? `Operation "${operation.name.value}"` : 'The operation'
    if (m.depth > MAX_DEPTH || m.introspectionDepth > MAX_INTROSPECTION_DEPTH) {
      const limit = m.depth > MAX_DEPTH ? MAX_DEPTH : MAX_INTROSPECTION_DEPTH
      const depth = m.depth > MAX_DEPTH ? m.depth : m.introspectionDepth
      return catalogError('GW_ERR_VALIDATION', `${name} is nested ${depth} levels deep; the limit is ${limit}`, { limit: 'depth', depth, maxDepth: limit })
    }
    if (m.cost > MAX_COST) {
      return catalogError('GW_ERR_VALIDATION',
        `${name} costs ${m.cost}; the limit is ${MAX_COST}. Ask for smaller pages (first, limit) or fewer upstream fields (state, credits) per request`,
        { limit: 'cost', cost: m.cost, maxCost: MAX_COST })
    }
  }
  return null
}
