// Numbers from the upstream are not trusted: Retry-After is clamped to a documented maximum,
// a balance must be a non-negative integer (anything else is a bad upstream answer, 502, never
// counted as spend), and progress or media numbers are kept in a range a column can hold.
import t from 'tap'
import { classifyFailure, NemoError } from '../../src/nemo/errors.ts'
import { parseRetryAfter, RETRY_AFTER_MAX_SEC } from '../../src/http/retry-after.ts'
import { readAnonymousToken, readClaimToken, readCredits, readRender, readUploadedFiles } from '../../src/nemo/wire.ts'
import { buildGateway } from '../helpers/app.ts'

t.test('Retry-After is clamped to the documented maximum', async (t) => {
  const now = Date.parse('2026-03-18T00:00:00Z')
  t.equal(RETRY_AFTER_MAX_SEC, 3600)
  t.equal(parseRetryAfter('99999999999999999999', now), RETRY_AFTER_MAX_SEC, 'huge delay-seconds')
  t.equal(parseRetryAfter('Fri, 31 Dec 9999 23:59:59 GMT', now), RETRY_AFTER_MAX_SEC, 'far-future HTTP-date')
  t.equal(parseRetryAfter('120', now), 120, 'a sane value is kept')
  t.equal(parseRetryAfter('120', now, 60), 60, 'a lower maximum applies')
  t.equal(parseRetryAfter('-5', now), undefined, 'unreadable')
  const err = classifyFailure({ httpStatus: 429, retryAfter: '99999999999999999999' })
  t.equal(err.retryAfterSec, RETRY_AFTER_MAX_SEC)
})

t.test('a balance is non-negative integers or a bad upstream answer', async (t) => {
  t.same(readCredits({ available: 25000, frozen: 40, total: 25040 }), { available: 25000, frozen: 40, total: 25040 })
  t.same(readCredits({ available: '60', frozen: 0 }), { available: 60, frozen: 0, total: 60 }, 'numeric strings and a missing total')
  for (const bad of [{ available: 'lots' }, { available: -5 }, { available: 1e308 }, { available: 1.5 }, { available: 10, frozen: -1 },
    { available: 10, total: 'x' }, {}, { available: null }, { available: 10, frozen: 1e300 }]) {
    let caught: unknown
    try { readCredits(bad) } catch (err) { caught = err }
    t.ok(caught instanceof NemoError && caught.kind === 'bad_response' && caught.code === 'GW_ERR_UPSTREAM_BAD_RESPONSE', JSON.stringify(bad))
  }
})

t.test('other upstream numbers are kept in range', async (t) => {
  t.equal(readAnonymousToken({ token: 'nmv_usr_a', credits: 1e308 }).credits, undefined, 'a mint is never lost to a bad credits field')
  t.equal(readAnonymousToken({ token: 'nmv_usr_a', credits: 100 }).credits, 100)
  const now = Date.parse('2026-03-18T00:00:00Z')
  const week = 7 * 24 * 3600_000
  t.equal(readAnonymousToken({ token: 'nmv_usr_a', expires_at: '9999-12-31T00:00:00Z' }, now).expiresAt.getTime(), now + week, 'a token lives 7 days at most')
  t.equal(readAnonymousToken({ token: 'nmv_usr_a', expires_at: '2000-01-01T00:00:00Z' }, now).expiresAt.getTime(), now + week, 'a fresh token already expired is not believed (it would re-mint at once)')
  t.equal(readAnonymousToken({ token: 'nmv_usr_a', expires_at: '2026-03-19T00:00:00Z' }, now).expiresAt.toISOString(), '2026-03-19T00:00:00.000Z', 'a shorter life is kept')
  t.equal(readClaimToken({ claim_token: 'clm_1', expires_in: 1e308 }, 'https://nemovideo.com').expiresInSec, 604800, 'a claim token lives 7 days at most')
  t.equal(readClaimToken({ claim_token: 'clm_1', expires_in: -5 }, 'https://nemovideo.com').expiresInSec, 604800)
  t.equal(readClaimToken({ claim_token: 'clm_1', expires_in: 3600 }, 'https://nemovideo.com').expiresInSec, 3600)
  t.equal(readRender({ status: 'processing', progress: 1e308 }, {}, 'r').progress, 100)
  t.equal(readRender({ status: 'processing', progress: -5 }, {}, 'r').progress, 0)
  t.equal(readRender({ status: 'processing', progress: 42.7 }, {}, 'r').progress, 42)
  const [file] = readUploadedFiles({ files: [{ filename: 'a.mp4', file_type: 'video', cdn_url: 'u', width: 1e308, height: -1, duration: 30.5, fps: 'x' }] })
  t.same(file, { filename: 'a.mp4', fileType: 'video', cdnUrl: 'u', duration: 30.5 })
})

t.test('the gateway: a bad balance is a 502 never counted as spend; a huge Retry-After is clamped', async (t) => {
  const gw = await buildGateway(t)
  const tenant = await gw.tenant('numbers')
  t.equal((await tenant.as('u1', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const first = await tenant.as('u1', { method: 'GET', url: '/v1/credits' })
  t.equal(first.statusCode, 200, first.body)
  const spentBefore = first.json().budget.spent
  for (const available of ['lots', -5, 1e308]) {
    await gw.sim.fault({ endpoint: 'credits', body: { code: 0, message: 'success', data: { available, frozen: 0, total: 100 } } })
    // past the balance cache
    await new Promise((resolve) => setTimeout(resolve, gw.config.CREDITS_CACHE_TTL_MS + 10))
    const res = await tenant.as('u1', { method: 'GET', url: '/v1/credits' })
    t.equal(res.statusCode, 502, `available ${JSON.stringify(available)}`)
    t.equal(res.json().code, 'GW_ERR_UPSTREAM_BAD_RESPONSE')
  }
  await new Promise((resolve) => setTimeout(resolve, gw.config.CREDITS_CACHE_TTL_MS + 10))
  const after = await tenant.as('u1', { method: 'GET', url: '/v1/credits' })
  t.equal(after.statusCode, 200)
  t.equal(after.json().budget.spent, spentBefore, 'no spend recorded from a bad balance')
  const row = await gw.app.prisma.tenant.findUniqueOrThrow({ where: { id: tenant.id } })
  t.equal(row.creditsSpent, spentBefore)

  await gw.sim.fault({ endpoint: 'credits', status: 429, headers: { 'retry-after': '99999999999999999999' } })
  await new Promise((resolve) => setTimeout(resolve, gw.config.CREDITS_CACHE_TTL_MS + 10))
  const limited = await tenant.as('u1', { method: 'GET', url: '/v1/credits' })
  t.equal(limited.statusCode, 503, limited.body)
  t.equal(limited.json().code, 'GW_ERR_UPSTREAM_RATE_LIMITED')
  t.equal(limited.headers['retry-after'], String(RETRY_AFTER_MAX_SEC))
})
