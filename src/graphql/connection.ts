// Credentials of a WebSocket connection: the graphql-transport-ws `connection_init` payload
// carries what an HTTP request sends as headers. Accepted spellings: `authorization` /
// `Authorization`, `x-user-id` / `X-User-Id` / `userId`, at the top level or under `headers`.
export interface ConnectionCredentials {
  authorization: string | undefined
  userId: string | undefined
}

function pick (source: Record<string, unknown>, names: string[]): string | undefined {
  const wanted = new Set(names.map(n => n.toLowerCase()))
  for (const [key, value] of Object.entries(source)) {
    if (wanted.has(key.toLowerCase()) && typeof value === 'string') return value
  }
  return undefined
}

function asRecord (value: unknown): Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) ? value as Record<string, unknown> : {}
}

export function connectionCredentials (payload: unknown): ConnectionCredentials {
  const top = asRecord(payload)
  const headers = asRecord(top.headers)
  const authorizationNames = ['authorization']
  const userNames = ['x-user-id', 'userId', 'user_id']
  return {
    authorization: pick(top, authorizationNames) ?? pick(headers, authorizationNames),
    userId: pick(top, userNames) ?? pick(headers, userNames)
  }
}
