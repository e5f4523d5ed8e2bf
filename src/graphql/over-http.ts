// GraphQL over HTTP (the GraphQL Foundation's spec): which media type an answer is sent as.
// A client that asks for `application/graphql-response+json` (Apollo Client 4 does, before
// `application/json`) gets it, with the spec's status codes: a request error (a document that
// does not parse or validate, variables that do not coerce, a refused key) is a 4xx whose body
// is still a GraphQL response, so the client reads its `extensions.code`. Any other client gets
// `application/json` (also for `*/*`, `application/*` and no Accept at all), where the spec
// wants 200 for document and variable errors, since such a client may not read a 4xx body.
export const GRAPHQL_RESPONSE_JSON = 'application/graphql-response+json'
export const JSON_MEDIA_TYPE = 'application/json'
export type GraphQLMediaType = typeof GRAPHQL_RESPONSE_JSON | typeof JSON_MEDIA_TYPE

interface Candidate { q: number, order: number }

function quality (params: string[]): number {
  for (const param of params) {
    const [name, value] = param.split('=')
    if (name?.trim().toLowerCase() === 'q') {
      const q = Number(value)
      return Number.isFinite(q) ? Math.min(Math.max(q, 0), 1) : 0
    }
  }
  return 1
}

/** The media type a GraphQL response is sent as, by the request's `Accept` (q-values honoured). */
export function negotiate (accept: string | string[] | undefined): GraphQLMediaType {
  const header = Array.isArray(accept) ? accept.join(',') : accept
  if (header === undefined || header.trim() === '') return JSON_MEDIA_TYPE
  let graphql: Candidate = { q: 0, order: Infinity }
  // application/json itself decides over application/*, which decides over */*
  const json: Record<'exact' | 'type' | 'any', Candidate | undefined> = { exact: undefined, type: undefined, any: undefined }
  header.split(',').forEach((entry, order) => {
    const [range = '', ...params] = entry.split(';')
    const q = quality(params)
    switch (range.trim().toLowerCase()) {
      case GRAPHQL_RESPONSE_JSON: graphql = { q, order }; break
      case JSON_MEDIA_TYPE: json.exact = { q, order }; break
      case 'application/*': json.type = { q, order }; break
      case '*/*': json.any = { q, order }; break
    }
  })
  const plain = json.exact ?? json.type ?? json.any ?? { q: 0, order: Infinity }
  if (graphql.q > 0 && (graphql.q > plain.q || (graphql.q === plain.q && graphql.order < plain.order))) return GRAPHQL_RESPONSE_JSON
  // nothing acceptable at all: application/json, which every GraphQL client reads
  return JSON_MEDIA_TYPE
}
