// Errors raised before any route runs, by Node's HTTP parser or Fastify's router, answer
// problem+json like every other error. `inject` never goes through the parser, so these
// requests are written on a real socket.
import t from 'tap'
import { buildGateway } from '../helpers/app.ts'
import { rawRequest } from '../helpers/raw-http.ts'

t.test('the HTTP layer\'s own refusals are problem+json with a GW_ERR_ code', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const port = (gw.app.server.address() as { port: number }).port
  const auth = `Authorization: Bearer ${acme.key}\r\nX-User-Id: alice\r\n`
  const longId = 'a'.repeat(1000)

  const cases: Array<{ what: string, request: string, status: number, code: string }> = [
    { what: 'a 20 KB URL', request: `GET /v1/sessions?x=${'a'.repeat(20_000)} HTTP/1.1\r\nHost: gw\r\n\r\n`, status: 431, code: 'GW_ERR_HEADERS_TOO_LARGE' },
    { what: 'a 20 KB header', request: `GET /health/live HTTP/1.1\r\nHost: gw\r\nX-Big: ${'a'.repeat(20_000)}\r\n\r\n`, status: 431, code: 'GW_ERR_HEADERS_TOO_LARGE' },
    { what: 'a path segment of 1,000 characters', request: `GET /v1/sessions/${longId} HTTP/1.1\r\nHost: gw\r\n${auth}\r\n`, status: 414, code: 'GW_ERR_URI_TOO_LONG' },
    { what: 'an invalid percent-encoding', request: `GET /v1/sessions/%zz HTTP/1.1\r\nHost: gw\r\n${auth}\r\n`, status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'a truncated percent-encoding', request: 'GET /health/%E0%A4%A HTTP/1.1\r\nHost: gw\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'an invalid method', request: 'G@T / HTTP/1.1\r\nHost: gw\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'an unknown HTTP version', request: 'GET / HTTP/9.9\r\nHost: gw\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'a Content-Length that is no number', request: 'POST /v1/sessions HTTP/1.1\r\nHost: gw\r\nContent-Length: abc\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'bytes that are not HTTP', request: '\x00\x01\x02hello\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'HTTP/1.1 without Host', request: 'GET /health/live HTTP/1.1\r\n\r\n', status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'malformed JSON', request: `POST /v1/sessions HTTP/1.1\r\nHost: gw\r\n${auth}Content-Type: application/json\r\nContent-Length: 3\r\n\r\n{x:`, status: 400, code: 'GW_ERR_BAD_REQUEST' },
    { what: 'a malformed Content-Type', request: `POST /v1/sessions HTTP/1.1\r\nHost: gw\r\n${auth}Content-Type: ;;;\r\nContent-Length: 2\r\n\r\n{}`, status: 415, code: 'GW_ERR_UNSUPPORTED_MEDIA_TYPE' }
  ]
  for (const c of cases) {
    const res = await rawRequest(t, port, c.request)
    if (res === null) {
      t.fail(`${c.what}: no response at all`)
      continue
    }
    t.equal(res.status, c.status, `${c.what}: ${res.status} ${res.body}`)
    t.match(res.headers['content-type'], /^application\/problem\+json/, `${c.what}: problem+json`)
    let body: Record<string, unknown> = {}
    try {
      body = JSON.parse(res.body)
    } catch {
      t.fail(`${c.what}: the body is not JSON: ${res.body}`)
    }
    t.match(body, { type: `/problems/${c.code}`, code: c.code, status: c.status, title: String, detail: String, instance: String }, c.what)
    t.notMatch(res.body, /\s+at .+:\d+:\d+/, `${c.what}: no stack trace`)
    t.notMatch(res.body, longId, `${c.what}: the URL is not echoed`)
  }

  // the catalog explains the new codes like every other
  for (const code of ['GW_ERR_HEADERS_TOO_LARGE', 'GW_ERR_URI_TOO_LONG', 'GW_ERR_REQUEST_TIMEOUT']) {
    t.equal((await gw.app.inject({ method: 'GET', url: `/problems/${code}` })).statusCode, 200, code)
  }
})
