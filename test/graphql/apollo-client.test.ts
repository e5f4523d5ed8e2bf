// Apollo Client 4 (HttpLink, as a web app would use it) against the real gateway on a real
// port: it asks for application/graphql-response+json first, so a request the gateway refuses
// (a bad key, a document that does not validate, a limit) reaches the caller as GraphQL errors
// whose GW_ERR_* code it reads from `extensions`, not as a bare "status code 400" ServerError.
import t from 'tap'
import { ApolloClient, CombinedGraphQLErrors, HttpLink, InMemoryCache, ServerError, gql } from '@apollo/client'
import { buildGateway } from '../helpers/app.ts'

t.test('Apollo Client: queries, mutations and refused requests with their codes', async (t) => {
  const gw = await buildGateway(t, { sim: { stepDelayMs: 5 } })
  const acme = await gw.tenant('acme')
  const base = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const apollo = (authorization: string) => new ApolloClient({
    link: new HttpLink({ uri: `${base}/graphql`, headers: { authorization, 'x-user-id': 'alice' } }),
    cache: new InMemoryCache()
  })
  const alice = apollo(`Bearer ${acme.key}`)

  const created = await alice.mutate<{ createSession: { id: string, title: string } }>({ mutation: gql`mutation { createSession(title: "From Apollo") { id title } }` })
  t.equal(created.data?.createSession.title, 'From Apollo', 'a mutation')
  const { data } = await alice.query<{ viewer: { id: string, sessions: { items: Array<{ id: string }> } } }>({ query: gql`query { viewer { id sessions(first: 5) { items { id title } } } }` })
  t.equal(data?.viewer.id, 'alice', 'a query')
  t.same(data?.viewer.sessions.items.map(s => s.id), [created.data?.createSession.id])

  // what the client raises: a refused operation does not resolve
  const raised = async (run: () => Promise<unknown>): Promise<unknown> => await run().then(() => { throw new Error('not refused') }, (err: unknown) => err)
  const stranger = apollo('Bearer ngw_nope_nope')
  const cases: Array<[string, () => Promise<unknown>, Record<string, unknown>]> = [
    ['a bad API key', () => stranger.query({ query: gql`query { viewer { id } }` }), { code: 'GW_ERR_UNAUTHORIZED', status: 401 }],
    ['a field the schema does not have', () => alice.query({ query: gql`query { viewer { password } }` }), { code: 'GW_ERR_VALIDATION', status: 400 }],
    ['the cost limit', () => alice.query({ query: gql`query { viewer { sessions(first: 100) { items { id state { summary } } } } }` }), { code: 'GW_ERR_VALIDATION', limit: 'cost' }],
    ['a session that is not there', () => alice.mutate({ mutation: gql`mutation { sendMessage(sessionId: "7c9e6679-7425-40de-944b-e07fc1f90ae7", text: "hi") { id } }` }), { code: 'GW_ERR_NOT_FOUND', status: 404 }]
  ]
  for (const [what, run, extensions] of cases) {
    const err = await raised(run)
    t.notOk(ServerError.is(err), `${what}: not a bare ServerError`)
    t.ok(CombinedGraphQLErrors.is(err), `${what}: GraphQL errors`)
    if (CombinedGraphQLErrors.is(err)) t.match(err.errors[0]?.extensions, extensions, `${what}: ${String(extensions.code)} read from the error`)
  }
})
