// GRAPHQL_MAX_DOCUMENT_BYTES: a document over the limit is refused before it is parsed, over
// HTTP (413, a GraphQL error with its code) and over the WebSocket (an `error` message for that
// subscription; the connection stays open), and the refusal is counted.
import t from 'tap'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { buildGateway } from '../helpers/app.ts'
import { gql } from './helpers.ts'

const LIMIT = 64 * 1024

/** A valid query of about `bytes` bytes: a real selection and a long comment. */
function queryOf (bytes: number): string {
  const head = '{ viewer { id } }\n#'
  return head + 'x'.repeat(bytes - head.length)
}

/** Parse-heavy, like the documents of the report: many fields, many tokens. */
function heavyQuery (bytes: number): string {
  const fields: string[] = []
  let size = 12
  for (let i = 0; size < bytes; i++) {
    const field = `a${i}: __typename `
    fields.push(field)
    size += field.length
  }
  return `{ ${fields.join('')}}`
}

t.test('the default limit takes real queries and refuses 900 KB before parsing, over HTTP', async (t) => {
  const gw = await buildGateway(t)
  t.equal(gw.config.GRAPHQL_MAX_DOCUMENT_BYTES, LIMIT)
  const acme = await gw.tenant('acme')

  const fits = await gql(acme, 'alice', queryOf(LIMIT))
  t.equal(fits.status, 200, 'a document of exactly the limit runs')
  t.equal(fits.body.data?.viewer.id, 'alice')

  for (const [what, query] of [['one byte over', queryOf(LIMIT + 1)], ['a parse-heavy 900 KB document', heavyQuery(900 * 1024)]] as const) {
    const res = await gql(acme, 'alice', query)
    t.equal(res.status, 413, what)
    t.notOk('data' in res.body, `${what}: nothing ran`)
    t.match(res.body.errors, [{ message: /^The GraphQL document is \d+ bytes; the limit is 65536/, extensions: { code: 'GW_ERR_PAYLOAD_TOO_LARGE', status: 413, limit: 'documentSize', maxBytes: LIMIT } }], what)
  }
  // a multi-byte document counts its UTF-8 bytes
  const wide = await gql(acme, 'alice', '{ viewer { id } }\n#' + 'é'.repeat(LIMIT / 2))
  t.equal(wide.status, 413, 'UTF-8 bytes, not characters')

  const metrics = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  t.match(metrics, /gateway_graphql_refusals_total\{reason="document_size"[^}]*\} 3/, 'each refusal is counted')
})

t.test('over the WebSocket, a subscribe document over the limit gets an error for its id; the connection goes on', async (t) => {
  const gw = await buildGateway(t, { config: { GRAPHQL_MAX_DOCUMENT_BYTES: 4096 } })
  const acme = await gw.tenant('acme')
  const session = (await gql(acme, 'alice', 'mutation { createSession(title: "s") { id } }')).body.data!.createSession.id as string
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  let closed = false
  const client = createClient({
    url: address.replace(/^http/, 'ws') + '/graphql',
    webSocketImpl: WebSocket,
    connectionParams: { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' },
    retryAttempts: 0,
    // one connection for the whole test: a lazy client would close it between subscriptions
    lazy: false,
    on: { closed: () => { closed = true } }
  })
  t.teardown(async () => { await client.dispose() })
  const subscribe = async (query: string) => await new Promise<unknown>((resolve) => {
    const stop = client.subscribe({ query, variables: { id: session } }, {
      next: (value) => { stop(); resolve(value) },
      error: resolve,
      complete: () => resolve('complete')
    })
  })
  const document = 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor type } }'
  // without the limit the subscription would simply start, and never answer
  const refused = await Promise.race([subscribe(document + '\n#' + 'x'.repeat(900 * 1024)), new Promise(resolve => setTimeout(() => resolve('no refusal within 5 s'), 5000))])
  t.match(refused, [{ message: /^The GraphQL document is \d+ bytes; the limit is 4096/, extensions: { code: 'GW_ERR_PAYLOAD_TOO_LARGE', status: 413, limit: 'documentSize' } }])

  // the same connection still subscribes: a message turns into an event
  const live = subscribe(document)
  await new Promise(resolve => setTimeout(resolve, 200))
  await gql(acme, 'alice', 'mutation ($id: ID!) { sendMessage(sessionId: $id, text: "[scenario:text] hi") { id } }', { id: session })
  t.match(await live, { data: { sessionEvents: { type: String } } }, 'a subscription within the limit runs on the same connection')
  t.notOk(closed, 'the connection was not closed')
})
