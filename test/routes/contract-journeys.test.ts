// The main journeys, driven the way the README shows them, with every answer checked against
// the published OpenAPI document (helpers/contract.ts): the status is documented for the
// operation, the content type is one the document names for it, the body matches the
// documented schema, and the events of the two streams match the documented event schema.
// List calls leave `limit` out, as a person typing them does; the streams and the download
// go over a real port, the way a client meets them.
import t, { type Test } from 'tap'
import { request } from 'undici'
import { exportSetup, settled } from '../helpers/exports.ts'
import { waitFor } from '../helpers/sse.ts'
import type { Contract } from '../helpers/contract.ts'
import { decrypt } from '../../src/db/crypto.ts'

const MP4_HEAD = Buffer.concat([Buffer.from([0, 0, 0, 0x18]), Buffer.from('ftypisom\0\0\x02\0isomiso2', 'latin1')])

function form (filename: string, content: Buffer): { payload: Buffer, headers: Record<string, string> } {
  const boundary = 'contract-boundary'
  return {
    payload: Buffer.concat([
      Buffer.from(`--${boundary}\r\nContent-Disposition: form-data; name="files"; filename="${filename}"\r\nContent-Type: video/mp4\r\n\r\n`),
      content,
      Buffer.from(`\r\n--${boundary}--\r\n`)
    ]),
    headers: { 'content-type': `multipart/form-data; boundary=${boundary}` }
  }
}

/** Reads an event stream over HTTP until `last` matches, checking the answer and each event. */
async function stream (t: Test, contract: Contract, method: 'GET' | 'POST', base: string, path: string,
  headers: Record<string, string>, body: unknown, last: (type: string) => boolean): Promise<string[]> {
  const controller = new AbortController()
  const timer = setTimeout(() => controller.abort(), 20_000)
  const res = await request(base + path, {
    method,
    headers: { accept: 'text/event-stream', ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: controller.signal
  })
  for (const m of contract.check(method, path, { statusCode: res.statusCode, headers: res.headers })) t.fail(`contract: ${m}`)
  if (res.statusCode !== 200) {
    t.fail(`${method} ${path}: ${res.statusCode} ${await res.body.text()}`)
    clearTimeout(timer)
    return []
  }
  const events: Array<{ event?: string, data: string }> = []
  let buffer = ''
  try {
    for await (const chunk of res.body) {
      buffer += String(chunk)
      let idx
      while ((idx = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, idx)
        buffer = buffer.slice(idx + 2)
        const event = /^event: (.*)$/m.exec(frame)?.[1]
        const data = frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n')
        if (data === '') continue
        events.push({ ...(event === undefined ? {} : { event }), data })
        if (event !== undefined && last(event)) { res.body.destroy(); break }
      }
      if (res.body.destroyed) break
    }
  } catch (err) {
    if (!controller.signal.aborted && !res.body.destroyed) throw err
  } finally {
    clearTimeout(timer)
  }
  for (const m of contract.checkEvents(method, path, events)) t.fail(`contract: ${m}`)
  return events.map((e) => e.event ?? 'message')
}

t.test('session, upload, turn, events, say, export, download and webhooks: every answer is the documented one', async (t) => {
  const { gw, acme, session, receiver, endpoint } = await exportSetup(t)
  const contract = gw.contract!
  // the first generation spent the anonymous token's 100 credits: the journey needs more
  const credential = await gw.app.prisma.credential.findFirstOrThrow()
  await gw.sim.control('PUT', 'credits', { token: decrypt(gw.app.encryptionKey, credential.tokenCiphertext), available: 10_000 })
  await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const address = gw.app.server.address()
  const base = typeof address === 'object' && address !== null ? `http://127.0.0.1:${address.port}` : ''
  const auth = { authorization: `Bearer ${acme.key}`, 'x-user-id': 'alice' }
  const as = async (method: string, url: string, more: Record<string, unknown> = {}) => await acme.as('alice', { method: method as 'GET', url, ...more })

  // sessions
  t.equal((await as('POST', '/v1/sessions', { payload: { title: 'Contract' } })).statusCode, 201)
  t.equal((await as('POST', '/v1/sessions')).statusCode, 201, 'no body at all means no options')
  t.equal((await as('GET', '/v1/sessions')).statusCode, 200, 'a list without limit')
  t.equal((await as('GET', `/v1/sessions/${session.id}`)).statusCode, 200)
  t.equal((await as('GET', `/v1/sessions/${session.id}/web-link`)).statusCode, 200)
  t.equal((await as('GET', '/v1/credits')).statusCode, 200)

  // uploads: a file and a URL
  const upload = form('clip.mp4', Buffer.concat([MP4_HEAD, Buffer.alloc(4096, 7)]))
  t.equal((await as('POST', `/v1/sessions/${session.id}/uploads`, upload)).statusCode, 201)
  t.equal((await as('POST', `/v1/sessions/${session.id}/uploads`, { payload: { urls: ['https://example.com/clip.mp4'] } })).statusCode, 201)
  t.equal((await as('GET', `/v1/sessions/${session.id}/uploads`)).statusCode, 200)

  // a turn as JSON, then one streamed; the session's log as JSON and as a stream
  const turn = await as('POST', `/v1/sessions/${session.id}/turns`, { payload: { text: 'add a title Urban Dreams' } })
  t.equal(turn.statusCode, 202)
  await waitFor(async () => (await as('GET', `/v1/sessions/${session.id}/turns/${turn.json().id as string}`)).json(), (x: any) => x.status !== 'running')
  const streamed = await stream(t, contract, 'POST', base, `/v1/sessions/${session.id}/turns`, auth, { text: 'what is on the timeline?' },
    (type) => type === 'turn.completed' || type === 'turn.failed')
  t.equal(streamed[0], 'turn.started', 'the turn stream starts with turn.started')
  t.ok(streamed.includes('turn.completed'), 'and ends with turn.completed')
  t.equal((await as('GET', `/v1/sessions/${session.id}/turns`)).statusCode, 200)
  const log = await as('GET', `/v1/sessions/${session.id}/events`)
  t.equal(log.statusCode, 200)
  const types = new Set((log.json().items as Array<{ type: string }>).map((e) => e.type))
  for (const type of ['turn.started', 'text', 'turn.completed', 'upload.completed']) t.ok(types.has(type), `the log holds ${type}`)
  const replayed = await stream(t, contract, 'GET', base, `/v1/sessions/${session.id}/events`, auth, undefined, (() => {
    let n = 0
    return () => ++n >= log.json().items.length
  })())
  t.equal(replayed.length, log.json().items.length, 'the stream replays the log')
  t.equal((await as('GET', `/v1/sessions/${session.id}/state`)).statusCode, 200)

  // say: state, credits, upload help (a chat turn is a turn, above)
  for (const text of ['status', 'how many credits do I have', 'how do I upload a video']) {
    t.equal((await as('POST', `/v1/sessions/${session.id}/say`, { payload: { text } })).statusCode, 200, `say "${text}"`)
  }

  // an export: started, listed, read, downloaded whole and in part, and its webhook
  const started = await as('POST', `/v1/sessions/${session.id}/exports`, { payload: {} })
  t.equal(started.statusCode, 202)
  const id = started.json().id as string
  t.ok(Date.parse(started.json().nextPollAt) > Date.parse(started.json().createdAt), 'the answer says when the first progress comes (nextPollAt)')
  t.equal((await as('GET', `/v1/sessions/${session.id}/exports`)).statusCode, 200)
  t.equal((await as('GET', '/v1/exports')).statusCode, 200)
  t.equal((await as('GET', `/v1/exports?status=rendering&sessionId=${session.id}`)).statusCode, 200)
  t.equal((await settled(acme, 'alice', id)).status, 'completed')
  const whole = await as('GET', `/v1/exports/${id}/download`)
  t.equal(whole.statusCode, 200)
  const part = await as('GET', `/v1/exports/${id}/download`, { headers: { range: 'bytes=0-99' } })
  t.equal(part.statusCode, 206)
  t.equal(part.rawPayload.length, 100)
  const redirect = await as('GET', `/v1/exports/${id}/download?redirect=true`)
  t.ok([200, 302].includes(redirect.statusCode))
  t.equal((await as('POST', `/v1/exports/${id}/cancel`)).statusCode, 409, 'a finished export cannot be cancelled')
  await waitFor(async () => receiver.deliveries.length, (n) => n > 0)
  const sayExport = await as('POST', `/v1/sessions/${session.id}/say`, { payload: { text: 'export it' } })
  t.equal(sayExport.statusCode, 202, 'say "export it" starts an export')
  await settled(acme, 'alice', sayExport.json().export.id)

  // webhooks
  t.equal((await as('GET', '/v1/webhooks/endpoints')).statusCode, 200)
  t.equal((await as('GET', `/v1/webhooks/endpoints/${endpoint.id}`)).statusCode, 200)
  const messages = await as('GET', `/v1/webhooks/endpoints/${endpoint.id}/messages`)
  t.equal(messages.statusCode, 200)
  const messageId = messages.json().items[0].id as string
  t.equal((await as('GET', `/v1/webhooks/messages/${messageId}`)).statusCode, 200)
  t.equal((await as('POST', `/v1/webhooks/messages/${messageId}/replay`)).statusCode, 200)
  t.equal((await as('POST', `/v1/webhooks/endpoints/${endpoint.id}/recover`, { payload: { since: '2020-01-01T00:00:00Z' } })).statusCode, 202)
  t.equal((await as('PATCH', `/v1/webhooks/endpoints/${endpoint.id}`, { payload: { description: 'renamed' } })).statusCode, 200)
  const rotated = await as('POST', `/v1/webhooks/endpoints/${endpoint.id}/rotate-secret`, { payload: { overlapSeconds: 60 } })
  t.equal(rotated.statusCode, 200)
  gw.secret(rotated.json().secret)
  t.equal((await as('DELETE', `/v1/webhooks/endpoints/${endpoint.id}`)).statusCode, 204)
  t.equal((await as('DELETE', '/v1/users/someone-else')).statusCode, 200)

  // the answers a client gets wrong: a wrong method, a text body, an unknown export
  t.equal((await as('DELETE', `/v1/sessions/${session.id}`)).statusCode, 405)
  t.equal((await as('POST', '/v1/sessions', { payload: 'hello', headers: { 'content-type': 'text/plain' } })).statusCode, 415)
  t.equal((await as('POST', `/v1/sessions/${session.id}/turns`, { payload: 'hello', headers: { 'content-type': 'text/plain' } })).statusCode, 415)
  t.equal((await as('GET', '/v1/exports/00000000-0000-4000-8000-000000000000')).statusCode, 404)

  const graphiql = await gw.app.inject({ method: 'GET', url: '/graphiql' })
  t.equal(graphiql.statusCode, 404)
  t.match(graphiql.json(), { code: 'GW_ERR_ROUTE_NOT_FOUND', detail: /GRAPHIQL=true/ }, 'GraphiQL off says which setting turns it on')

  const operations = new Set([...contract.seen.keys()].map((k) => k.split(' ').slice(0, 2).join(' ')))
  t.ok(operations.size >= 30, `answers of ${operations.size} operations checked against the document`)
})
