// The HTTP server's timeouts (src/options.ts), on a real socket: an idle keep-alive connection
// is closed after HTTP_KEEPALIVE_TIMEOUT_MS, and a client that sends its headers too slowly, or
// nothing at all, is answered 408 and cut after HTTP_HEADERS_TIMEOUT_MS.
import t from 'tap'
import { buildGateway } from './helpers/app.ts'
import { closedAfter, connect, readResponse } from './helpers/raw-http.ts'
import { loadConfig } from '../src/config.ts'

const KEEPALIVE_MS = 300
const HEADERS_MS = 400
/** Node checks the headers timeout every 100 ms here; a busy test machine adds its own lag (seconds, with other suites running). Without the bounds these connections stay open 60-300 s. */
const SLACK_MS = 4000

t.test('idle and slow connections are closed on time', async (t) => {
  const gw = await buildGateway(t, { config: { HTTP_KEEPALIVE_TIMEOUT_MS: KEEPALIVE_MS, HTTP_HEADERS_TIMEOUT_MS: HEADERS_MS } })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const port = (gw.app.server.address() as { port: number }).port
  const get = 'GET /health/live HTTP/1.1\r\nHost: gw\r\n\r\n'

  t.test('an idle keep-alive connection is closed after the keep-alive timeout, not before', async (t) => {
    const socket = await connect(t, port)
    let response = readResponse(socket)
    socket.write(get)
    t.equal((await response)?.status, 200)
    // still open for a second request within the timeout
    await new Promise(resolve => setTimeout(resolve, KEEPALIVE_MS / 3))
    response = readResponse(socket)
    socket.write(get)
    const second = await response
    t.equal(second?.status, 200)
    t.equal(second?.closed, false, 'the connection was kept for the next request')
    // Node waits one second more than it announces (Keep-Alive: timeout=...), so that a client
    // never reuses a connection the server is just closing
    const idle = await closedAfter(socket, KEEPALIVE_MS + 1000 + SLACK_MS)
    t.ok(idle >= KEEPALIVE_MS - 50, `closed after ${Math.round(idle)} ms idle (timeout ${KEEPALIVE_MS} ms + Node's 1 s)`)
  })

  t.test('headers sent too slowly: 408 problem+json, then the connection is closed', async (t) => {
    const socket = await connect(t, port)
    const response = readResponse(socket, HEADERS_MS + SLACK_MS)
    const started = performance.now()
    socket.write('GET /health/live HTTP/1.1\r\nHost: gw\r\n')
    // a header line every 50 ms, never the blank line that ends them
    const drip = setInterval(() => { if (!socket.destroyed) socket.write('X-Slow: a\r\n') }, 50)
    t.teardown(() => clearInterval(drip))
    const res = await response
    const after = performance.now() - started
    clearInterval(drip)
    t.equal(res?.status, 408)
    t.match(res?.headers['content-type'], /^application\/problem\+json/)
    t.match(JSON.parse(res?.body ?? '{}'), { code: 'GW_ERR_REQUEST_TIMEOUT', status: 408 })
    t.ok(after >= HEADERS_MS - 50 && after < HEADERS_MS + SLACK_MS, `cut after ${Math.round(after)} ms (timeout ${HEADERS_MS} ms)`)
    await closedAfter(socket, 1000)
  })

  t.test('a connection that never sends a byte is closed after the headers timeout', async (t) => {
    const socket = await connect(t, port)
    const closed = await closedAfter(socket, HEADERS_MS + SLACK_MS)
    t.ok(closed >= HEADERS_MS - 50, `closed after ${Math.round(closed)} ms (timeout ${HEADERS_MS} ms)`)
  })
})

t.test('timeouts that would cut what another limit allows stop the process at boot', async (t) => {
  t.throws(() => loadConfig({ REQUEST_TIMEOUT_MS: '5000', HTTP_HEADERS_TIMEOUT_MS: '10000' }), /HTTP_HEADERS_TIMEOUT_MS \(10000\) must not be longer than REQUEST_TIMEOUT_MS/)
  t.throws(() => loadConfig({ HTTP_CONNECTION_TIMEOUT_MS: '10000', SSE_KEEPALIVE_MS: '15000' }), /HTTP_CONNECTION_TIMEOUT_MS .* SSE_KEEPALIVE_MS/)
  t.match(loadConfig({}), { HTTP_HEADERS_TIMEOUT_MS: 10_000, HTTP_KEEPALIVE_TIMEOUT_MS: 10_000, HTTP_CONNECTION_TIMEOUT_MS: 300_000, REQUEST_TIMEOUT_MS: 0 })
})
