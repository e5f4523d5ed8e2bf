import t from 'tap'
import { decodeEnvelope } from '../../src/nemo/envelope.ts'
import { classifyFailure, fromStreamError, fromTransportError, NemoError, type NemoErrorKind } from '../../src/nemo/errors.ts'
import { parseRetryAfter } from '../../src/http/retry-after.ts'

function failure (fn: () => unknown): NemoError {
  try {
    fn()
  } catch (err) {
    if (err instanceof NemoError) return err
    throw err
  }
  throw new Error('expected a NemoError')
}

const decode = (status: number, body: unknown, ctx = {}) =>
  decodeEnvelope(status, typeof body === 'string' ? body : JSON.stringify(body), ctx)

t.test('each envelope unwraps to its data', async (t) => {
  t.same(decode(200, { code: 0, message: 'ok', data: { token: 'x' } }).data, { token: 'x' })
  t.same(decode(200, { code: 0, data: { a: 1 } }).data, { a: 1 }, 'message is optional')
  t.same(decode(200, { success: true, data: { id: 'r', status: 'pending' } }).data, { id: 'r', status: 'pending' })
  const shapeB = { taskId: 'r', status: 'completed', output: { url: 'u' } }
  t.same(decode(200, shapeB).data, shapeB, 'a body without envelope is returned as is')
  t.same(decode(200, { success: true }).data, { success: true }, 'success without data gives the body')
  t.same(decode(200, '').data, null, 'an empty 2xx body is null')
  const both = decode(200, { success: true, data: { status: 'completed' }, status: 'x' })
  t.same(both.body, { success: true, data: { status: 'completed' }, status: 'x' }, 'the whole body stays available')
})

t.test('error envelopes map to kinds and catalog codes', async (t) => {
  const cases: Array<[string, number, unknown, NemoErrorKind, string]> = [
    ['code 1001', 200, { code: 1001, message: 'Invalid token', data: null }, 'token_invalid', 'GW_ERR_UPSTREAM_AUTH'],
    ['code 1010', 200, { code: 1010, message: 'x' }, 'token_invalid', 'GW_ERR_UPSTREAM_AUTH'],
    ['code 1011 on 401', 401, { code: 1011, message: 'x' }, 'token_invalid', 'GW_ERR_UPSTREAM_AUTH'],
    ['401 with an auth message', 401, { detail: 'Token has expired' }, 'token_invalid', 'GW_ERR_UPSTREAM_AUTH'],
    ['403 with an auth message', 403, { message: 'invalid or expired token' }, 'token_invalid', 'GW_ERR_UPSTREAM_AUTH'],
    ['code 1002', 200, { code: 1002, message: 'session not found' }, 'session_not_found', 'GW_ERR_UPSTREAM_SESSION_NOT_FOUND'],
    ['FastAPI 404', 404, { detail: 'Session not found: 5529798706024415232' }, 'session_not_found', 'GW_ERR_UPSTREAM_SESSION_NOT_FOUND'],
    ['code 2001', 200, { code: 2001, message: 'no credits' }, 'credits_exhausted', 'GW_ERR_CREDITS_EXHAUSTED'],
    ['code 4001', 200, { code: 4001, message: 'unsupported' }, 'unsupported_file', 'GW_ERR_UNSUPPORTED_MEDIA_TYPE'],
    ['code 4002', 400, { code: 4002, message: 'too large' }, 'file_too_large', 'GW_ERR_PAYLOAD_TOO_LARGE'],
    ['HTTP 402', 402, { success: false, error: 'plan' }, 'plan_required', 'GW_ERR_PLAN_REQUIRED'],
    ['HTTP 429', 429, { code: 429, message: 'slow down' }, 'rate_limited', 'GW_ERR_UPSTREAM_RATE_LIMITED'],
    ['HTTP 400 missing X-Client-Id', 400, { code: 400, message: 'X-Client-Id header required', data: null }, 'bad_request', 'GW_ERR_UPSTREAM_BAD_REQUEST'],
    ['FastAPI 422', 422, { detail: [{ loc: ['body', 'user_id'], msg: 'Field required', type: 'missing' }] }, 'bad_request', 'GW_ERR_UPSTREAM_BAD_REQUEST'],
    ['unknown code', 200, { code: 9999, message: '?' }, 'bad_request', 'GW_ERR_UPSTREAM_BAD_REQUEST'],
    ['success false', 200, { success: false, error: 'duplicate id' }, 'bad_request', 'GW_ERR_UPSTREAM_BAD_REQUEST'],
    ['404 other', 404, { detail: 'Not Found' }, 'bad_request', 'GW_ERR_UPSTREAM_BAD_REQUEST'],
    ['HTTP 500', 500, { code: -1, message: 'boom' }, 'unavailable', 'GW_ERR_UPSTREAM_UNAVAILABLE'],
    ['HTTP 502 html', 502, '<html>Bad Gateway</html>', 'unavailable', 'GW_ERR_UPSTREAM_UNAVAILABLE'],
    ['HTTP 504', 504, '', 'timeout', 'GW_ERR_UPSTREAM_TIMEOUT'],
    ['2xx not JSON', 200, '<html>oops', 'bad_response', 'GW_ERR_UPSTREAM_BAD_RESPONSE']
  ]
  for (const [name, status, body, kind, code] of cases) {
    const err = failure(() => decode(status, body))
    t.equal(err.kind, kind, `${name}: kind`)
    t.equal(err.code, code, `${name}: code`)
    t.equal(err.httpStatus, status, `${name}: httpStatus`)
  }
  const e = failure(() => decode(200, { code: 1001, message: 'Invalid token' }))
  t.equal(e.upstreamCode, 1001)
  t.equal(e.upstreamMessage, 'Invalid token')
  t.not(e.message, 'Invalid token', 'upstream wording stays out of the detail')
  t.ok(e instanceof Error && e.name === 'NemoError')
})

t.test('2001 hint: bind link for anonymous users, top-up text otherwise', async (t) => {
  const anon = failure(() => decode(200, { code: 2001 }, { userId: 'anon_abc123' }))
  t.equal(anon.extensions.hint, 'https://nemovideo.com/register?bind=anon_abc123')
  const registered = failure(() => decode(200, { code: 2001 }, { userId: 'u_1' }))
  t.match(registered.extensions.hint, /top up/)
  const unknown = failure(() => decode(200, { code: 2001 }))
  t.match(unknown.extensions.hint, /top up/)
  t.equal(unknown.statusCode, 402)
})

t.test('429 carries Retry-After in seconds or from an HTTP-date', async (t) => {
  const secs = failure(() => decode(429, { code: 429 }, { retryAfter: '12' }))
  t.equal(secs.retryAfterSec, 12)
  t.same(secs.headers, { 'Retry-After': '12' })
  t.equal(secs.extensions.retryAfter, 12)
  const none = failure(() => decode(429, ''))
  t.equal(none.retryAfterSec, 30, 'the skill advice (30 s) when the header is missing')
  const now = Date.parse('2026-03-18T00:00:00Z')
  t.equal(parseRetryAfter('Wed, 18 Mar 2026 00:01:30 GMT', now), 90)
  t.equal(parseRetryAfter('Tue, 17 Mar 2026 00:00:00 GMT', now), 0, 'a past date means now')
  t.equal(parseRetryAfter('soon', now), undefined)
  t.equal(parseRetryAfter(undefined), undefined)
})

t.test('transport errors map by undici code; aborts and foreign errors pass through', async (t) => {
  const err = (code: string) => Object.assign(new Error(code), { code })
  const kindOf = (e: unknown) => (e as NemoError).kind
  t.equal(kindOf(fromTransportError(err('UND_ERR_CONNECT_TIMEOUT'))), 'timeout')
  t.equal(kindOf(fromTransportError(err('UND_ERR_HEADERS_TIMEOUT'))), 'timeout')
  t.equal(kindOf(fromTransportError(err('UND_ERR_BODY_TIMEOUT'))), 'timeout')
  t.equal(kindOf(fromTransportError(err('ECONNREFUSED'))), 'unavailable')
  t.equal(kindOf(fromTransportError(err('ECONNRESET'))), 'unavailable')
  t.equal(kindOf(fromTransportError(err('UND_ERR_SOCKET'))), 'unavailable')
  t.equal(kindOf(fromTransportError(err('UND_ERR_SOCKET'), true)), 'stream_broken')
  t.equal(kindOf(fromTransportError(new AggregateError([err('ECONNREFUSED')]))), 'unavailable')
  const abort = new DOMException('aborted', 'AbortError')
  t.equal(fromTransportError(abort), abort)
  t.equal(fromStreamError(abort), abort)
  const own = new Error('source stream failed')
  t.equal(fromTransportError(own), own)
  t.equal(kindOf(fromStreamError(new TypeError('terminated'))), 'stream_broken')
  t.equal((fromTransportError(err('UND_ERR_SOCKET')) as NemoError).code, 'GW_ERR_UPSTREAM_UNAVAILABLE')
  t.equal((fromTransportError(err('UND_ERR_BODY_TIMEOUT')) as NemoError).code, 'GW_ERR_UPSTREAM_TIMEOUT')
  t.equal(classifyFailure({ httpStatus: 503 }).kind, 'unavailable')
})
