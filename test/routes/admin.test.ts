import t from 'tap'
import { buildGateway, ADMIN_TOKEN } from '../helpers/app.ts'

t.test('the admin API is behind ADMIN_TOKEN', async (t) => {
  const gw = await buildGateway(t)
  const none = await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants' })
  t.equal(none.statusCode, 401)
  t.equal(none.json().code, 'GW_ERR_UNAUTHORIZED')
  const wrong = await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: 'Bearer not-the-admin-token' } })
  t.equal(wrong.statusCode, 403)
  const ok = await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
  t.equal(ok.statusCode, 200)
  // a tenant key is not an admin token
  const acme = await gw.tenant('acme')
  const tenantKey = await gw.app.inject({ method: 'GET', url: '/admin/v1/tenants', headers: { authorization: `Bearer ${acme.key}` } })
  t.equal(tenantKey.statusCode, 403)
})

t.test('tenants and keys: issue, list, revoke, rotate with overlap', async (t) => {
  const gw = await buildGateway(t, { config: { AUTH_CACHE_TTL_MS: 0 } })
  const created = await gw.admin({ method: 'POST', url: '/admin/v1/tenants', payload: { name: 'acme', tokenMode: 'anonymous' } })
  t.equal(created.statusCode, 201)
  const tenantId = created.json().id
  const dup = await gw.admin({ method: 'POST', url: '/admin/v1/tenants', payload: { name: 'acme' } })
  t.equal(dup.statusCode, 409)
  t.equal(dup.json().code, 'GW_ERR_CONFLICT')

  const issued = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${tenantId}/keys`, payload: { name: 'backend' } })
  t.equal(issued.statusCode, 201)
  const { key, id: apiKeyId, keyId } = issued.json()
  gw.secret(key)
  t.match(key, /^ngw_[a-z0-9]{16}_[A-Za-z0-9_-]{43}$/)
  t.equal(issued.headers['cache-control'], 'no-store')

  // the secret is everything after `ngw_<16-char keyId>_` (it may itself contain "_")
  const secret = key.slice('ngw_'.length + 16 + 1)
  t.equal(secret.length, 43)
  const listed = await gw.admin({ method: 'GET', url: `/admin/v1/tenants/${tenantId}/keys` })
  t.equal(listed.json().items.length, 1)
  t.notOk(listed.body.includes(secret), 'the secret is never listed')

  const row = await gw.app.prisma.apiKey.findUniqueOrThrow({ where: { keyId } })
  t.not(row.secretHash, secret, 'only a hash is stored')
  t.notOk(JSON.stringify(row).includes(secret))

  const use = async (k: string) => (await gw.app.inject({ method: 'GET', url: '/v1/sessions', headers: { authorization: `Bearer ${k}`, 'x-user-id': 'u1' } })).statusCode
  t.equal(await use(key), 200)

  // rotate with an hour of overlap: both work
  const rotated = await gw.admin({ method: 'POST', url: `/admin/v1/keys/${apiKeyId}/rotate`, payload: { overlapSeconds: 3600 } })
  t.equal(rotated.statusCode, 201)
  const newKey = rotated.json().key.key
  gw.secret(newKey)
  t.not(newKey, key)
  t.equal(await use(key), 200, 'old key works during the overlap')
  t.equal(await use(newKey), 200, 'new key works')
  t.equal(rotated.json().previous.rotatedToId, rotated.json().key.id)

  // rotate the new one with no overlap: the rotated key stops at once
  const again = await gw.admin({ method: 'POST', url: `/admin/v1/keys/${rotated.json().key.id}/rotate`, payload: { overlapSeconds: 0 } })
  const newest = again.json().key.key
  gw.secret(newest)
  t.equal(await use(newKey), 401, 'a key rotated with no overlap stops working')
  t.equal(await use(newest), 200)

  const revoked = await gw.admin({ method: 'POST', url: `/admin/v1/keys/${again.json().key.id}/revoke` })
  t.equal(revoked.statusCode, 200)
  t.ok(revoked.json().revokedAt)
  t.equal(await use(newest), 401, 'a revoked key stops working')

  const unknown = await gw.admin({ method: 'POST', url: '/admin/v1/keys/00000000-0000-4000-8000-000000000000/revoke' })
  t.equal(unknown.statusCode, 404)
})

t.test('a revoked key stops working within the auth cache TTL', async (t) => {
  const gw = await buildGateway(t, { config: { AUTH_CACHE_TTL_MS: 1500 } })
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('u1', { method: 'GET', url: '/v1/sessions' })).statusCode, 200)
  // revoke behind the gateway's back (as another instance would)
  await gw.app.prisma.apiKey.updateMany({ where: { tenantId: acme.id }, data: { revokedAt: new Date() } })
  t.equal((await acme.as('u1', { method: 'GET', url: '/v1/sessions' })).statusCode, 200, 'cached for a moment')
  await new Promise(resolve => setTimeout(resolve, 1600))
  t.equal((await acme.as('u1', { method: 'GET', url: '/v1/sessions' })).statusCode, 401, 'refused after the TTL')
})

t.test('registered tokens: register, list, remove; token mode switch', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme', { tokenMode: 'registered' })
  const noToken = await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(noToken.statusCode, 503)
  t.equal(noToken.json().code, 'GW_ERR_NO_CREDENTIAL')

  const { token } = await gw.sim.control('POST', 'tokens', { credits: 500 }) as { token: string }
  gw.secret(token)
  const reg = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token, label: 'team token' } })
  t.equal(reg.statusCode, 201)
  t.notOk(reg.body.includes(token), 'the token is never echoed')
  const dup = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token } })
  t.equal(dup.statusCode, 409)
  const bogus = await gw.admin({ method: 'POST', url: `/admin/v1/tenants/${acme.id}/credentials`, payload: { token: 'nmv_usr_not-a-real-token' } })
  t.equal(bogus.statusCode, 400, 'the upstream vouches for a token before the pool takes it')

  const s = await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(s.statusCode, 201)
  const credits = await acme.as('u2', { method: 'GET', url: '/v1/credits' })
  t.equal(credits.statusCode, 200)
  t.equal(credits.json().available, 500, 'users share the registered token')
  t.equal(credits.json().tokenMode, 'registered')

  const list = await gw.admin({ method: 'GET', url: `/admin/v1/tenants/${acme.id}/credentials` })
  t.equal(list.json().items[0].sessions, 1)
  const removed = await gw.admin({ method: 'DELETE', url: `/admin/v1/tenants/${acme.id}/credentials/${reg.json().id}` })
  t.equal(removed.json().state, 'revoked')
  const after = await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(after.statusCode, 503)

  const switched = await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${acme.id}`, payload: { tokenMode: 'anonymous' } })
  t.equal(switched.json().tokenMode, 'anonymous')
  t.equal((await acme.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)

  const row = await gw.app.prisma.credential.findFirstOrThrow({ where: { kind: 'registered' } })
  t.notOk(row.tokenCiphertext.includes(token), 'stored encrypted')
})
