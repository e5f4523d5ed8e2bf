// The webhook portal in a real headless Chromium: the tenant's backend opens a link, the page
// (holding only the link's token, never the API key) replays a failed message, rotates a secret
// and sends a test event, each checked through the API and at the receiver afterwards; an
// expired or a revoked link is refused. With PORTAL_SCREENSHOTS=<dir> (npm run
// docs:portal-screenshots) it saves a screenshot of each view there.
// Skips, saying why, where /usr/bin/chromium is absent (.ci/run installs it).
import t from 'tap'
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { join } from 'node:path'
import { exportSetup, settled } from './helpers/exports.ts'
import { waitFor } from './helpers/sse.ts'
import type { Page } from 'puppeteer-core'

const CHROMIUM = '/usr/bin/chromium'
const SHOTS = process.env.PORTAL_SCREENSHOTS

/**
 * Clicks the element the selector names now, in one step inside the page: a list that is
 * re-rendered between finding a button and clicking it (the endpoints reload after "Back")
 * cannot leave the click on a detached node.
 */
async function press (page: Page, selector: string): Promise<void> {
  await page.waitForSelector(selector)
  await page.$eval(selector, (e) => { (e as HTMLElement).click() })
}

t.test('a portal link: replay a message, rotate a secret, send a test event; expired and revoked links refused', { skip: existsSync(CHROMIUM) ? false : `no browser at ${CHROMIUM} (apt-get install -y chromium)` }, async (t) => {
  const { default: puppeteer } = await import('puppeteer-core')
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t)
  const withKey = { authorization: `Bearer ${acme.key}` }
  const api = async (method: 'GET' | 'POST' | 'DELETE', url: string, payload?: object) => await gw.app.inject({ method, url, headers: withKey, ...(payload === undefined ? {} : { payload }) })

  // an export whose webhook the receiver refuses until the retries run out: a failed message
  receiver.respond(500)
  const started = (await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/exports` })).json()
  t.equal((await settled(acme, 'alice', started.id)).status, 'completed')
  const failed = await waitFor(async () => (await api('GET', `/v1/webhooks/endpoints/${endpoint.id}/messages`)).json().items[0], (m: any) => m?.status === 'failed')
  receiver.respond(200)

  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const link = async (ttlSeconds?: number) => {
    const opened = (await api('POST', '/v1/portal/sessions', ttlSeconds === undefined ? undefined : { ttlSeconds })).json()
    gw.secret(opened.url.split('#token=')[1])
    return opened as { id: string, url: string }
  }
  const portal = await link()

  const browser = await puppeteer.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox', '--disable-dev-shm-usage'] })
  t.teardown(async () => await browser.close())
  const sent: string[] = []
  const consoleErrors: string[] = []
  const open = async (url: string) => {
    const page = await browser.newPage()
    await page.setViewport({ width: 1200, height: 760 })
    page.on('request', (r) => { sent.push(r.url() + JSON.stringify(r.headers())) })
    page.on('console', (m) => { if (m.type() === 'error') consoleErrors.push(m.text()) })
    await page.goto(url)
    return page
  }
  if (SHOTS !== undefined) await mkdir(SHOTS, { recursive: true })
  const shot = async (page: Awaited<ReturnType<typeof open>>, name: string) => {
    if (SHOTS !== undefined) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true })
  }

  const page = await open(portal.url)
  await page.waitForSelector('body[data-state="ready"]', { timeout: 15_000 })
  t.equal(await page.evaluate('location.hash'), '', 'the token is taken out of the address bar')
  const row = `tr[data-endpoint="${endpoint.id}"]`
  t.match(await page.$eval(row, (e) => e.textContent), /failing since/, 'the endpoint shows its state: failing since the refused deliveries')
  await shot(page, 'endpoints')

  // messages and their attempts, then replay the failed one
  await press(page, `${row} button[data-action="messages"]`)
  const msgRow = `tr[data-message="${failed.id}"]`
  await page.waitForSelector(msgRow)
  t.match(await page.$eval(msgRow, (e) => e.textContent), /export\.completed.*failed/)
  await press(page, `${msgRow} button[data-action="attempts"]`)
  await page.waitForSelector('#attempts:not([hidden]) tbody tr')
  const attempts = await page.$$eval('#attempts tbody tr', (rows) => rows.map(r => [...r.querySelectorAll('td')].slice(1).map(c => c.textContent)))
  const logged = (await api('GET', `/v1/webhooks/messages/${failed.id}`)).json().attemptLog
  t.equal(attempts.length, logged.length, 'every attempt is listed')
  t.match(attempts[0], ['scheduled', '500', /^\d+ ms$/, logged[0].responseBody], `attempts show status, latency and the first bytes of the answer: ${JSON.stringify(attempts)}`)
  await shot(page, 'messages')
  await press(page, `${msgRow} button[data-action="replay"]`)
  await page.waitForFunction(() => document.getElementById('notice')!.textContent!.startsWith('Replayed'))
  const replayed = (await api('GET', `/v1/webhooks/messages/${failed.id}`)).json()
  t.equal(replayed.status, 'delivered', 'through the API: the replayed message is delivered')
  t.match(replayed.attemptLog.at(-1), { trigger: 'replay', statusCode: 200 })
  await shot(page, 'replayed')

  // rotate the secret: shown once, and the new one signs what is sent next
  await press(page, '#back')
  await page.waitForSelector(`${row} button[data-action="rotate"]`)
  await press(page, `${row} button[data-action="rotate"]`)
  await page.waitForSelector('#secret:not([hidden])')
  const secret = await page.$eval('#secret-value', (e) => e.textContent!)
  gw.secret(secret)
  t.match(secret, /^whsec_/)
  t.not(secret, endpoint.secret)
  await shot(page, 'rotated')
  const endpointAfter = (await api('GET', `/v1/webhooks/endpoints/${endpoint.id}`)).json()
  t.ok(Date.parse(endpointAfter.updatedAt) > Date.parse(failed.createdAt), 'through the API: the endpoint changed')
  receiver.secrets = [secret]

  // a test event, signed with the new secret (the receiver accepts only that one now)
  const before = receiver.deliveries.length
  await press(page, `${row} button[data-action="test"]`)
  await page.waitForFunction(() => document.getElementById('notice')!.textContent!.startsWith('Test event queued'))
  const [testDelivery] = (await receiver.waitFor(before + 1)).slice(before)
  t.equal(testDelivery!.json.type, 'webhook.test')
  t.equal(testDelivery!.verifiedWith, secret, 'the rotated secret signs it')
  const testId = await page.evaluate('document.body.dataset.lastTest') as string
  const testMsg = await waitFor(async () => (await api('GET', `/v1/webhooks/messages/${testId}`)).json(), (m: any) => m.status === 'delivered')
  t.equal(testMsg.eventType, 'webhook.test', 'through the API: the test message was delivered')

  // usage per day: the chart shows what the API answers
  await press(page, 'button[data-view="usage"]')
  await page.waitForSelector('#usage-chart svg rect.bar')
  const usage = (await api('GET', '/v1/usage')).json()
  const today = usage.rows.at(-1)
  t.ok(today.creditsSpent > 0, 'the turn and the export spent credits')
  t.equal(await page.$eval(`rect.bar[data-day="${today.day as string}"]`, (e) => Number(e.getAttribute('data-credits'))), today.creditsSpent, 'the chart\'s bar is the API\'s number')
  await shot(page, 'usage')

  // revoked: the open page and a fresh open are refused
  t.equal((await api('DELETE', `/v1/portal/sessions/${portal.id}`)).statusCode, 204)
  const again = await open(portal.url)
  await again.waitForSelector('body[data-state="refused"]', { timeout: 15_000 })
  t.match(await again.$eval('#refused-detail', (e) => e.textContent), /revoked/)
  await shot(again, 'refused')
  await page.bringToFront()
  await press(page, 'button[data-view="endpoints"]')
  await page.waitForSelector('body[data-state="refused"]', { timeout: 15_000 })
  t.pass('the page already open is refused at its next call')

  // expired
  const short = await gw.app.domain.portalSessions.open(acme.id, null, 1)
  gw.secret(short.token)
  await new Promise(resolve => setTimeout(resolve, 2100))
  const late = await open(short.url)
  await late.waitForSelector('body[data-state="refused"]', { timeout: 15_000 })
  t.match(await late.$eval('#refused-detail', (e) => e.textContent), /expired/)

  t.notOk(sent.some(s => s.includes(acme.key)), 'the API key never reached the browser')
  const logs = gw.logs.join('')
  t.match(logs, /"url":"\/portal"/, 'the page was asked for')
  t.notOk(logs.includes(portal.url.split('#token=')[1]!), 'the token in the fragment never reached the gateway\'s logs')
  t.same(consoleErrors.filter(e => !/status of 401/.test(e)), [], 'no script errors (and no CSP violations) in the page')
})
