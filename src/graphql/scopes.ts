// Scopes over GraphQL: a field marked `@scope(name: ...)` in the SDL needs that scope, checked
// for every field a document selects (through fragments too) before anything runs, over HTTP
// and WebSocket alike, by the same rule REST routes use (domain/tenancy/scopes.ts).
import {
  getNamedType, isInterfaceType, isObjectType, Kind,
  type DocumentNode, type FragmentDefinitionNode, type GraphQLField, type GraphQLNamedType, type GraphQLSchema, type SelectionSetNode
} from 'graphql'
import { requireScope, SCOPES, type Scope } from '../domain/tenancy/index.ts'
import type { RequestActor } from '../domain/common/index.ts'

const KNOWN: ReadonlySet<string> = new Set(SCOPES)

function scopeOf (field: GraphQLField<unknown, unknown>): Scope | undefined {
  const directive = field.astNode?.directives?.find(d => d.name.value === 'scope')
  const arg = directive?.arguments?.find(a => a.name.value === 'name')
  if (arg?.value.kind !== Kind.STRING) return undefined
  if (!KNOWN.has(arg.value.value)) throw new Error(`schema.graphql: @scope(name: "${arg.value.value}") is not a scope`)
  return arg.value.value as Scope
}

function collect (schema: GraphQLSchema, fragments: Map<string, FragmentDefinitionNode>, type: GraphQLNamedType, set: SelectionSetNode, into: Set<Scope>, seen: Set<string>): void {
  for (const selection of set.selections) {
    if (selection.kind === Kind.FIELD) {
      const field = isObjectType(type) || isInterfaceType(type) ? type.getFields()[selection.name.value] : undefined
      if (field === undefined) continue
      const scope = scopeOf(field)
      if (scope !== undefined) into.add(scope)
      if (selection.selectionSet) collect(schema, fragments, getNamedType(field.type), selection.selectionSet, into, seen)
    } else if (selection.kind === Kind.INLINE_FRAGMENT) {
      const on = selection.typeCondition ? schema.getType(selection.typeCondition.name.value) ?? type : type
      collect(schema, fragments, on, selection.selectionSet, into, seen)
    } else {
      const fragment = fragments.get(selection.name.value)
      if (fragment === undefined || seen.has(selection.name.value)) continue
      seen.add(selection.name.value)
      collect(schema, fragments, schema.getType(fragment.typeCondition.name.value) ?? type, fragment.selectionSet, into, seen)
    }
  }
}

/** The scopes a document's operations need. */
function scopesNeeded (schema: GraphQLSchema, document: DocumentNode): Set<Scope> {
  const fragments = new Map<string, FragmentDefinitionNode>()
  for (const d of document.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d)
  const needed = new Set<Scope>()
  for (const d of document.definitions) {
    if (d.kind !== Kind.OPERATION_DEFINITION) continue
    const root = schema.getRootType(d.operation)
    if (root) collect(schema, fragments, root, d.selectionSet, needed, new Set())
  }
  return needed
}

/** Throws the 403 of the first scope the actor lacks. */
export function checkScopes (schema: GraphQLSchema, document: DocumentNode, actor: RequestActor | undefined): void {
  for (const scope of scopesNeeded(schema, document)) requireScope(actor?.scopes ?? NONE, scope)
}

const NONE: ReadonlySet<string> = new Set()
