// Client tokens: a tenant's backend mints them for one user; a browser or app uses them alone.
// The walls hold over REST, GraphQL and the WebSocket: another user's session is 404, an
// expired, revoked, forged or unsigned token is 401, a missing scope is 403, another tenant's
// resources are 404; and API keys are held to their scopes (a read-only key writes nothing).
import t from 'tap'
import { createClient } from 'graphql-ws'
import WebSocket from 'ws'
import { generateKeyPair, SignJWT, decodeJwt } from 'jose'
import { buildGateway, type TestGateway, type TestTenant } from '../helpers/app.ts'

async function mint (gw: TestGateway, tenant: TestTenant, userId: string, body: Record<string, unknown> = {}): Promise<string> {
  const res = await tenant.as(userId, { method: 'POST', url: '/v1/client-tokens', payload: body })
  if (res.statusCode !== 201) throw new Error(`mint failed: ${res.statusCode} ${res.body}`)
  const token = res.json().token as string
  gw.secret(token)
  return token
}

const bearer = (token: string) => ({ authorization: `Bearer ${token}` })

async function wsSession (url: string, token: string, sessionId: string): Promise<{ closed?: { code: number, reason: string }, error?: unknown, first?: unknown }> {
  return await new Promise((resolve) => {
    const timer = setTimeout(() => { Promise.resolve(client.dispose()).catch(() => {}); resolve({ error: 'timed out' }) }, 10_000)
    const client = createClient({
      url,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${token}` },
      retryAttempts: 0,
      lazy: true,
      on: { closed: (e) => { const ev = e as { code: number, reason: string }; if (ev.code !== 1000) { clearTimeout(timer); resolve({ closed: { code: ev.code, reason: ev.reason } }) } } }
    })
    const stop = client.subscribe({ query: 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { type } }', variables: { id: sessionId } }, {
      next: (v) => { clearTimeout(timer); stop(); Promise.resolve(client.dispose()).catch(() => {}); resolve({ first: v }) },
      error: (err) => { clearTimeout(timer); Promise.resolve(client.dispose()).catch(() => {}); resolve({ error: err }) },
      complete: () => {}
    })
  })
}

t.test('a client token acts for its own user only, with its scopes, over REST, GraphQL and WebSocket', async (t) => {
  const gw = await buildGateway(t, { config: { AUTH_CACHE_TTL_MS: 300 } })
  const a = await gw.tenant('tenant-a')
  const b = await gw.tenant('tenant-b')
  const alice = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'alice' } })).json()
  const bobs = (await a.as('bob', { method: 'POST', url: '/v1/sessions', payload: { title: 'bob' } })).json()
  const other = (await b.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'b' } })).json()
  // her session has events to follow
  t.equal((await a.as('alice', { method: 'POST', url: `/v1/sessions/${alice.id}/turns`, payload: { text: '[scenario:text] hi' } })).statusCode, 202)

  const minted = await a.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: {} })
  t.equal(minted.statusCode, 201)
  t.same(minted.json().scopes, ['sessions:read', 'events:read', 'exports:read', 'credits:read'], 'read and follow by default')
  t.equal(minted.headers['cache-control'], 'no-store')
  const token = minted.json().token as string
  gw.secret(token)
  const claims = decodeJwt(token)
  t.equal(claims.sub, 'alice')
  t.ok(Number(claims.exp) - Math.floor(Number(claims.iat)) === 15 * 60, '15 minutes by default')

  // the JWKS names the token's key
  const jwks = (await gw.app.inject({ method: 'GET', url: '/.well-known/jwks.json' })).json()
  t.ok(jwks.keys.some((k: { kid: string, d?: string }) => k.kid !== undefined && k.d === undefined), 'public keys only')

  const as = async (opts: { method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object, headers?: Record<string, string> }, tok = token) =>
    await gw.app.inject({ ...opts, headers: { ...bearer(tok), ...opts.headers } })

  // her own session, without X-User-Id
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${alice.id}` })).statusCode, 200)
  t.same((await as({ method: 'GET', url: '/v1/sessions' })).json().items.map((s: { id: string }) => s.id), [alice.id])
  t.equal((await as({ method: 'GET', url: '/v1/credits' })).statusCode, 200)
  // another user's session, another tenant's session: unknown
  for (const id of [bobs.id, other.id]) {
    const res = await as({ method: 'GET', url: `/v1/sessions/${id}` })
    t.equal(res.statusCode, 404)
    t.equal(res.json().code, 'GW_ERR_NOT_FOUND')
  }
  // the user cannot be chosen by the holder
  const chosen = await as({ method: 'GET', url: `/v1/sessions/${bobs.id}`, headers: { 'x-user-id': 'bob' } })
  t.equal(chosen.statusCode, 403)

  // writes need scopes: 403 naming the one missing
  const write = await as({ method: 'POST', url: `/v1/sessions/${alice.id}/turns`, payload: { text: 'hi' } })
  t.equal(write.statusCode, 403)
  t.equal(write.json().code, 'GW_ERR_SCOPE_REQUIRED')
  t.equal(write.json().scope, 'turns:write')
  t.match(write.json().detail, /turns:write/)
  for (const [method, url, scope] of [
    ['POST', '/v1/sessions', 'sessions:write'],
    ['GET', '/v1/webhooks/endpoints', 'webhooks:manage'],
    ['POST', '/v1/client-tokens', 'client-tokens:create'],
    ['POST', '/v1/users/bob/client-tokens/revoke', 'users:manage'],
    ['DELETE', '/v1/users/bob', 'users:manage']
  ] as const) {
    const res = await as({ method, url, ...(method === 'POST' ? { payload: {} } : {}) })
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.equal(res.json().scope, scope)
  }

  // never grantable: tenant-wide scopes
  const tenantWide = await a.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: { scopes: ['webhooks:manage'] } })
  t.equal(tenantWide.statusCode, 400)
  // sessions bound: only those
  const bound = await mint(gw, a, 'alice', { scopes: ['sessions:read', 'turns:write'], sessionIds: [alice.id] })
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${alice.id}` }, bound)).statusCode, 200)
  const second = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 'second' } })).json()
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${second.id}` }, bound)).statusCode, 404, 'a session outside the token is unknown')
  t.equal((await a.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: { sessionIds: [bobs.id] } })).statusCode, 404, 'cannot bind another user\'s session')

  // GraphQL over HTTP: same walls
  const gq = async (query: string, variables: object, tok = token) => (await as({ method: 'POST', url: '/graphql', payload: { query, variables } }, tok)).json()
  t.equal((await gq('query ($id: ID!) { session(id: $id) { id } }', { id: alice.id })).data.session.id, alice.id)
  const gqOther = await gq('query ($id: ID!) { session(id: $id) { id } }', { id: bobs.id })
  t.equal(gqOther.errors[0].extensions.code, 'GW_ERR_NOT_FOUND')
  const gqWrite = await gq('mutation ($id: ID!) { sendMessage(sessionId: $id, text: "hi") { id } }', { id: alice.id })
  t.equal(gqWrite.errors[0].extensions.code, 'GW_ERR_SCOPE_REQUIRED')
  t.equal(gqWrite.errors[0].extensions.status, 403)
  const gqHooks = await gq('query { webhookEndpoints { items { id } } }', {})
  t.equal(gqHooks.errors[0].extensions.code, 'GW_ERR_SCOPE_REQUIRED')
  const viaFragment = await gq('query { ...V } fragment V on Query { viewer { sessions { items { id webLink { url } } } } }', {})
  t.equal(viaFragment.errors[0].extensions.code, 'GW_ERR_SCOPE_REQUIRED', 'a field inside a fragment is checked too')

  // WebSocket: a subscription to her own session runs; another's is 404; tenant B's token on A: 404
  const address = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const wsUrl = address.replace(/^http/, 'ws') + '/graphql'
  const own = await wsSession(wsUrl, token, alice.id)
  t.ok(own.first, 'her own session\'s events flow')
  const theirs = await wsSession(wsUrl, token, bobs.id)
  t.match(JSON.stringify(theirs.error), /GW_ERR_NOT_FOUND/)
  const bToken = await mint(gw, b, 'alice')
  t.match(JSON.stringify((await wsSession(wsUrl, bToken, alice.id)).error), /GW_ERR_NOT_FOUND/, 'tenant B\'s token on tenant A\'s session')
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${alice.id}` }, bToken)).statusCode, 404)
  const noEvents = await mint(gw, a, 'alice', { scopes: ['sessions:read'] })
  t.match(JSON.stringify((await wsSession(wsUrl, noEvents, alice.id)).error), /GW_ERR_SCOPE_REQUIRED/, 'a subscription needs events:read')

  // forged, unsigned, expired: 401 everywhere
  const { privateKey } = await generateKeyPair('Ed25519')
  const header = JSON.parse(Buffer.from(token.split('.')[0]!, 'base64url').toString())
  const forged = await new SignJWT({ ...claims }).setProtectedHeader(header).sign(privateKey)
  const unsigned = `${Buffer.from(JSON.stringify({ alg: 'none', typ: 'JWT' })).toString('base64url')}.${token.split('.')[1]}.`
  const tampered = `${token.split('.')[0]}.${Buffer.from(JSON.stringify({ ...claims, sub: 'bob' })).toString('base64url')}.${token.split('.')[2]}`
  const short = await mint(gw, a, 'alice', { ttlSeconds: 30 })
  const expired = await new SignJWT({ ...decodeJwt(short), exp: Math.floor(Date.now() / 1000) - 5 }).setProtectedHeader(header).sign(privateKey)
  for (const [name, bad] of [['forged', forged], ['alg none', unsigned], ['tampered', tampered], ['expired and forged', expired]] as const) {
    const res = await as({ method: 'GET', url: `/v1/sessions/${alice.id}` }, bad)
    t.equal(res.statusCode, 401, name)
    t.equal(res.json().code, 'GW_ERR_UNAUTHORIZED')
    t.equal((await gw.app.inject({ method: 'POST', url: '/graphql', headers: bearer(bad), payload: { query: '{ viewer { id } }' } })).statusCode, 401, `${name} over GraphQL`)
    const ws = await wsSession(wsUrl, bad, alice.id)
    t.equal(ws.closed?.code, 4403, `${name} over WebSocket`)
  }

  // revoking the user ends her tokens (within AUTH_CACHE_TTL_MS), and new ones work
  const revoked = await a.as('admin-backend', { method: 'POST', url: '/v1/users/alice/client-tokens/revoke' })
  t.equal(revoked.statusCode, 200)
  await new Promise(resolve => setTimeout(resolve, 350))
  for (const tok of [token, bound]) {
    const res = await as({ method: 'GET', url: `/v1/sessions/${alice.id}` }, tok)
    t.equal(res.statusCode, 401)
    t.match(res.json().detail, /revoked/)
  }
  t.equal((await wsSession(wsUrl, token, alice.id)).closed?.code, 4403, 'revoked over WebSocket')
  const fresh = await mint(gw, a, 'alice')
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${alice.id}` }, fresh)).statusCode, 200, 'a token minted after the revocation works')
  t.equal((await as({ method: 'GET', url: `/v1/sessions/${bobs.id}` }, await mint(gw, a, 'bob'))).statusCode, 200, 'other users are untouched')
})

t.test('a token past its expiry is refused', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const token = await mint(gw, a, 'alice', { ttlSeconds: 30 })
  t.equal((await gw.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}`, headers: bearer(token) })).statusCode, 200)
  // the clock moves on: jose and the cached verdict both read Date.now
  const realNow = Date.now
  Date.now = () => realNow() + 31_000
  t.teardown(() => { Date.now = realNow })
  const res = await gw.app.inject({ method: 'GET', url: `/v1/sessions/${session.id}`, headers: bearer(token) })
  Date.now = realNow
  t.equal(res.statusCode, 401)
  t.match(res.json().detail, /expired/)
})

t.test('API keys hold scopes: a read-only key reads and is refused every write', async (t) => {
  const gw = await buildGateway(t)
  const a = await gw.tenant('tenant-a')
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const issued = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${a.id}/keys`, payload: { name: 'ro', scopes: ['sessions:read', 'events:read', 'exports:read', 'credits:read'] } })
  t.equal(issued.statusCode, 201)
  t.same(issued.json().scopes, ['sessions:read', 'events:read', 'exports:read', 'credits:read'])
  const key = issued.json().key as string
  gw.secret(key)
  const ro = async (method: 'GET' | 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object) =>
    await gw.app.inject({ method, url, headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' }, ...(payload === undefined ? {} : { payload }) })
  t.equal((await ro('GET', `/v1/sessions/${session.id}`)).statusCode, 200)
  t.equal((await ro('GET', '/v1/credits')).statusCode, 200)
  const writes: Array<[method: 'POST' | 'PATCH' | 'DELETE', url: string, payload?: object]> = [
    ['POST', '/v1/sessions', {}],
    ['POST', `/v1/sessions/${session.id}/turns`, { text: 'hi' }],
    ['POST', `/v1/sessions/${session.id}/say`, { text: 'hi' }],
    ['POST', `/v1/sessions/${session.id}/uploads`, { urls: ['https://example.com/a.mp4'] }],
    ['POST', `/v1/sessions/${session.id}/exports`, {}],
    ['POST', '/v1/exports/00000000-0000-4000-8000-000000000000/cancel', {}],
    ['POST', '/v1/webhooks/endpoints', { url: 'https://example.com/hook' }],
    ['PATCH', '/v1/webhooks/endpoints/00000000-0000-4000-8000-000000000000', { enabled: false }],
    ['DELETE', '/v1/webhooks/endpoints/00000000-0000-4000-8000-000000000000'],
    ['POST', '/v1/client-tokens', {}],
    ['POST', '/v1/users/bob/client-tokens/revoke', {}],
    ['DELETE', '/v1/users/bob']
  ]
  for (const [method, url, payload] of writes) {
    const res = await ro(method, url, payload)
    t.equal(res.statusCode, 403, `${method} ${url}`)
    t.equal(res.json().code, 'GW_ERR_SCOPE_REQUIRED')
  }
  for (const mutation of ['createSession { id }', `sendMessage(sessionId: "${session.id}", text: "hi") { id }`, `startExport(sessionId: "${session.id}") { id }`, 'createWebhookEndpoint(url: "https://example.com/h") { secret }']) {
    const res = (await ro('POST', '/graphql', { query: `mutation { ${mutation} }` })).json()
    t.equal(res.errors?.[0]?.extensions.code, 'GW_ERR_SCOPE_REQUIRED', mutation)
  }
  t.equal(await gw.app.prisma.session.count(), 1, 'nothing was written')
  // a client token minted by a read-only key cannot hold more than the key
  const mintedByRo = await gw.app.inject({ method: 'POST', url: '/v1/client-tokens', headers: { authorization: `Bearer ${key}`, 'x-user-id': 'alice' }, payload: {} })
  t.equal(mintedByRo.statusCode, 403)
  // an unknown scope at creation is a 400
  t.equal((await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${a.id}/keys`, payload: { scopes: ['sessions:delete'] } })).statusCode, 400)
})
