import t from 'tap'
import { buildSchema, parse } from 'graphql'
import { checkLimits, MAX_COST, MAX_DEPTH, measure } from '../../src/graphql/limits.ts'

// a schema that can nest without end, which the gateway's own schema cannot (yet)
const schema = buildSchema(`
  directive @cost(weight: Int!) on FIELD_DEFINITION
  type Query { node: Node, nodes(first: Int = 10): [Node!]! }
  type Node { id: ID!, child: Node, children(limit: Int = 5): [Node!]!, expensive: Node @cost(weight: 200) }
`)

/** A selection on Node that is `levels` deep. */
function inner (levels: number): string {
  let q = 'id'
  for (let i = 1; i < levels; i++) q = `child { ${q} }`
  return q
}

function nested (levels: number): string {
  return `{ node { ${inner(levels - 1)} } }`
}

t.test('depth: one more level than the limit is refused, with how deep and the limit', async (t) => {
  t.equal(checkLimits(schema, parse(nested(MAX_DEPTH))), null)
  const err = checkLimits(schema, parse(nested(MAX_DEPTH + 1)))
  t.match(err, { message: `The operation is nested ${MAX_DEPTH + 1} levels deep; the limit is ${MAX_DEPTH}`, extensions: { code: 'GW_ERR_VALIDATION', status: 400, limit: 'depth' } })
  const viaFragment = checkLimits(schema, parse(`query Deep { node { ...F } } fragment F on Node { ${inner(MAX_DEPTH)} }`))
  t.match(viaFragment?.message, /^Operation "Deep" is nested/, 'fragments count where they are spread')
})

t.test('cost: every field selection 1, @cost weights, pages multiply', async (t) => {
  const cost = (q: string, variables?: Record<string, unknown>) => [...measure(schema, parse(q), variables).values()][0]!.cost
  t.equal(cost('{ node { id } }'), 2)
  t.equal(cost('{ node { child { id } } }'), 3)
  t.equal(cost('{ node { expensive { id } } }'), 202)
  t.equal(cost('{ nodes { id } }'), 1 + 10 * 1, 'a list: the list field, then its page of scalars')
  t.equal(cost('{ nodes(first: 3) { child { id } } }'), 1 + 3 * 2)
  t.equal(cost('{ nodes { children { child { id } } } }'), 1 + 10 * (1 + 5 * 2), 'argument defaults apply')
  t.equal(cost('query ($n: Int) { nodes(first: $n) { child { id } } }', { n: 7 }), 1 + 7 * 2)
  t.equal(cost('query ($n: Int) { nodes(first: $n) { child { id } } }'), 1 + 1000 * 2, 'an unknown variable counts as the maximum')
  t.equal(cost('{ __typename a: __typename b: __typename }'), 3, '__typename and aliases count')
  t.equal(cost('{ __schema { types { fields { name } } } }'), 4, 'introspection selections count too')
  const err = checkLimits(schema, parse('{ nodes(first: 100) { expensive { id } } }'))
  t.match(err, { extensions: { code: 'GW_ERR_VALIDATION', limit: 'cost', cost: 1 + 100 * 201, maxCost: MAX_COST } })
})
