// Bring your own identity provider: a tenant registers its issuer, and that issuer's tokens
// are accepted as client tokens, the user and scopes taken from its claims. The JWKS is read
// through the webhook egress rule (loopback only when WEBHOOK_ALLOWED_CIDRS opens it), follows
// a key rotation, and is not fetched again for an unknown kid more than once a minute.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer } from 'node:http'
import { exportJWK, generateKeyPair, SignJWT, type JWK } from 'jose'
import { buildGateway, type TestGateway } from '../../helpers/app.ts'

interface Idp { url: string, fetches: () => number, sign: (claims: Record<string, unknown>, kid?: string) => Promise<string>, rotate: () => Promise<string> }

async function identityProvider (t: Test): Promise<Idp> {
  const keys: Array<{ kid: string, privateKey: CryptoKey, jwk: JWK }> = []
  const add = async (kid: string) => {
    const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true })
    keys.push({ kid, privateKey, jwk: { ...await exportJWK(publicKey), kid, alg: 'ES256', use: 'sig' } })
    return kid
  }
  await add('k1')
  let fetches = 0
  const server = createServer((req, res) => {
    fetches++
    res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'max-age=3600' })
    res.end(JSON.stringify({ keys: keys.map(k => k.jwk) }))
  }).listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => server.close())
  const url = `http://127.0.0.1:${(server.address() as { port: number }).port}/.well-known/jwks.json`
  return {
    url,
    fetches: () => fetches,
    sign: async (claims, kid = keys.at(-1)!.kid) => {
      const key = keys.find(k => k.kid === kid)!
      return await new SignJWT(claims).setProtectedHeader({ alg: 'ES256', kid }).setIssuer('https://idp.example')
        .setAudience('video-app').setIssuedAt().setExpirationTime('5m').sign(key.privateKey)
    },
    rotate: async () => await add(`k${keys.length + 1}`)
  }
}

async function register (gw: TestGateway, tenantId: string, jwksUrl: string) {
  return await gw.admin({
    method: 'POST',
    url: `/admin/v1/tenants/${tenantId}/issuers`,
    payload: { issuer: 'https://idp.example', jwksUrl, audience: 'video-app', userClaim: 'user_id', scopeClaim: 'permissions' }
  })
}

t.test('a registered issuer\'s tokens act for the user they name, through key rotation', async (t) => {
  const idp = await identityProvider(t)
  const gw = await buildGateway(t, { config: { WEBHOOK_ALLOWED_CIDRS: '127.0.0.0/8' } })
  const a = await gw.tenant('tenant-a')
  const b = await gw.tenant('tenant-b')
  t.equal((await register(gw, a.id, idp.url)).statusCode, 201)
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const bSession = (await b.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const get = async (token: string, url = `/v1/sessions/${session.id}`) => await gw.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } })

  const token = await idp.sign({ user_id: 'alice', permissions: ['sessions:read', 'webhooks:manage'] })
  gw.secret(token)
  t.equal((await get(token)).statusCode, 200, 'the IdP\'s token reads alice\'s session')
  t.equal((await get(token, `/v1/sessions/${bSession.id}`)).statusCode, 404, 'never another tenant\'s')
  const hooks = await get(token, '/v1/webhooks/endpoints')
  t.equal(hooks.statusCode, 403, 'a tenant-wide scope in the claim is dropped')
  t.equal((await get(token, '/v1/credits')).json().scope, 'credits:read', 'only the scopes the claim names')
  t.equal(idp.fetches(), 1, 'the JWKS was fetched once and cached')

  // the IdP rotates: a token with the new kid makes the gateway fetch again, once
  await idp.rotate()
  const rotated = await idp.sign({ user_id: 'alice', permissions: 'sessions:read events:read' })
  gw.secret(rotated)
  // the first fetch was under a minute ago: an unknown kid is not a reason to fetch yet
  t.equal((await get(rotated)).statusCode, 401)
  t.equal(idp.fetches(), 1, 'at most one fetch a minute')
  const realNow = Date.now
  Date.now = () => realNow() + 61_000
  t.teardown(() => { Date.now = realNow })
  t.equal((await get(rotated)).statusCode, 200, 'after a minute, the unknown kid fetches the JWKS again')
  t.equal(idp.fetches(), 2)
  Date.now = realNow
  t.equal((await get(token)).statusCode, 200, 'the old key still verifies its tokens')

  // a forged token with the IdP's kid and a user the IdP did not sign
  const { privateKey } = await generateKeyPair('ES256')
  const forged = await new SignJWT({ user_id: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example')
    .setAudience('video-app').setIssuedAt().setExpirationTime('5m').sign(privateKey)
  t.equal((await get(forged)).statusCode, 401)
  const otherAudience = await new SignJWT({ user_id: 'alice' }).setProtectedHeader({ alg: 'ES256', kid: 'k1' }).setIssuer('https://idp.example')
    .setAudience('another-app').setIssuedAt().setExpirationTime('5m').sign(privateKey)
  t.equal((await get(otherAudience)).statusCode, 401, 'an audience no tenant registered')
})

t.test('an issuer whose JWKS sits on an address the egress rule does not open is refused', async (t) => {
  const idp = await identityProvider(t)
  const gw = await buildGateway(t, { config: { WEBHOOK_ALLOWED_CIDRS: '' } })
  const a = await gw.tenant('tenant-a')
  t.equal((await register(gw, a.id, idp.url)).statusCode, 201)
  const token = await idp.sign({ user_id: 'alice' })
  gw.secret(token)
  const res = await gw.app.inject({ method: 'GET', url: '/v1/credits', headers: { authorization: `Bearer ${token}` } })
  t.equal(res.statusCode, 401)
  t.match(res.json().detail, /could not be fetched: refused/)
  t.equal(idp.fetches(), 0, 'the gateway never reached the loopback address')
})
