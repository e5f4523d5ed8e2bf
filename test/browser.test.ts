// A real headless Chromium: a page served from another origin that the tenant allowed, holding
// only a client token (never the API key), follows a turn the backend starts, over graphql-ws
// and through EventSource; the same page from an origin the tenant did not allow is refused.
// Skips, saying why, where /usr/bin/chromium is absent (.ci/run installs it).
import t from 'tap'
import { once } from 'node:events'
import { existsSync } from 'node:fs'
import { readFile } from 'node:fs/promises'
import { createServer } from 'node:http'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { buildGateway } from './helpers/app.ts'

const CHROMIUM = '/usr/bin/chromium'

const PAGE = `<!doctype html><meta charset="utf-8"><title>video app</title>
<script src="/graphql-ws.js"></script>
<script>
  const params = new URLSearchParams(location.hash.slice(1))
  const gateway = params.get('gateway'), token = params.get('token'), session = params.get('session')
  window.seen = { ws: [], sse: [], wsReady: false, sseReady: false, wsClosed: null, sseError: false, fetch: null }
  fetch(gateway + '/v1/credits', { headers: { authorization: 'Bearer ' + token } })
    .then(r => { window.seen.fetch = r.status }, () => { window.seen.fetch = 'blocked' })
  const client = graphqlWs.createClient({
    url: gateway.replace(/^http/, 'ws') + '/graphql',
    connectionParams: { authorization: 'Bearer ' + token },
    retryAttempts: 0,
    lazy: false,
    on: { connected: () => { window.seen.wsReady = true }, closed: (e) => { window.seen.wsClosed = e.code } }
  })
  client.subscribe({ query: 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { type } }', variables: { id: session } }, {
    next: (r) => { if (r.data) window.seen.ws.push(r.data.sessionEvents.type) }, error: () => {}, complete: () => {}
  })
  const events = new EventSource(gateway + '/v1/sessions/' + session + '/events?access_token=' + encodeURIComponent(token))
  events.onopen = () => { window.seen.sseReady = true }
  events.onerror = () => { window.seen.sseError = true }
  for (const type of ['turn.started', 'text', 'turn.completed']) events.addEventListener(type, () => window.seen.sse.push(type))
</script>`

t.test('a web app with only a client token follows a turn over graphql-ws and EventSource', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install -y chromium)` }, async (t) => {
  const { default: puppeteer } = await import('puppeteer-core')
  // the package's exports map hides its browser bundle: found next to its package.json
  const bundle = await readFile(join(dirname(createRequire(import.meta.url).resolve('graphql-ws/package.json')), 'umd', 'graphql-ws.min.js'), 'utf8')
  const pages = createServer((req, res) => {
    if (req.url === '/graphql-ws.js') return res.writeHead(200, { 'content-type': 'text/javascript' }).end(bundle)
    res.writeHead(200, { 'content-type': 'text/html' }).end(PAGE)
  }).listen(0, '127.0.0.1')
  await once(pages, 'listening')
  t.teardown(() => pages.close())
  const pagePort = (pages.address() as { port: number }).port
  // the same page, two origins: 127.0.0.1 is allowed, localhost is not
  const allowed = `http://127.0.0.1:${pagePort}`
  const refused = `http://localhost:${pagePort}`

  const gw = await buildGateway(t, { sim: { stepDelayMs: 20 } })
  const a = await gw.tenant('web-team')
  await gw.admin({ method: 'PATCH', url: `/admin/v1/tenants/${a.id}`, payload: { allowedOrigins: [allowed] } })
  const gateway = (await gw.app.listen({ port: 0, host: '127.0.0.1' }))
  // the team's backend: holds the key, creates the session, mints the page's token
  const session = (await a.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const token = (await a.as('alice', { method: 'POST', url: '/v1/client-tokens', payload: {} })).json().token as string
  gw.secret(token)

  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  t.teardown(async () => await browser.close())
  const sent: string[] = []
  const open = async (origin: string) => {
    const page = await browser.newPage()
    page.on('request', (r) => { sent.push(r.url() + JSON.stringify(r.headers()) + (r.postData() ?? '')) })
    await page.goto(`${origin}/#gateway=${encodeURIComponent(gateway)}&token=${encodeURIComponent(token)}&session=${session.id}`)
    return page
  }

  const page = await open(allowed)
  await page.waitForFunction('window.seen.wsReady && window.seen.sseReady && window.seen.fetch !== null', { timeout: 15_000 })
  t.equal(await page.evaluate('window.seen.fetch'), 200, 'fetch from the allowed origin reads the answer')
  const turn = await a.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text: '[scenario:text] hello from the backend' } })
  t.equal(turn.statusCode, 202)
  await page.waitForFunction('window.seen.ws.includes("turn_completed") || window.seen.ws.includes("turn.completed")', { timeout: 20_000 })
  await page.waitForFunction('window.seen.sse.includes("turn.completed")', { timeout: 20_000 })
  const seen = await page.evaluate('window.seen') as { ws: string[], sse: string[] }
  t.ok(seen.ws.length >= 2, `graphql-ws saw the turn: ${seen.ws.join(', ')}`)
  t.ok(seen.sse.includes('turn.started') && seen.sse.includes('turn.completed'), `EventSource saw the turn: ${seen.sse.join(', ')}`)

  const other = await open(refused)
  await other.waitForFunction('window.seen.fetch !== null && window.seen.wsClosed !== null && window.seen.sseError', { timeout: 15_000 })
  const denied = await other.evaluate('window.seen') as { fetch: unknown, wsReady: boolean, sseReady: boolean, ws: string[], sse: string[] }
  t.equal(denied.fetch, 'blocked', 'fetch from an origin the tenant did not allow cannot read the answer')
  t.notOk(denied.wsReady, 'the WebSocket is refused')
  t.notOk(denied.sseReady, 'the event stream is refused')
  t.same([denied.ws, denied.sse], [[], []])

  t.notOk(sent.some(s => s.includes(a.key)), 'the API key never reached either page')
  t.notOk((await page.content()).includes(a.key))
})
