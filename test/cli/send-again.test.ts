// The demo's client sends a request again when the gateway refuses it for now (503 or 429 with
// Retry-After), after the wait asked for, and only then; a real HTTP server plays the gateway.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'
import { sendAgainWhenRefused } from '../../src/cli/send-again.ts'

interface Seen { at: number, body: string }

/** A server answering request N with `answers[N]` (the last one from then on); what it got, in order. */
async function gateway (t: Test, answers: Array<{ status: number, headers?: Record<string, string> }>): Promise<{ url: string, seen: Seen[] }> {
  const seen: Seen[] = []
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    let body = ''
    req.setEncoding('utf8')
    req.on('data', (c: string) => { body += c })
    req.on('end', () => {
      seen.push({ at: performance.now(), body })
      const answer = answers[Math.min(seen.length, answers.length) - 1]!
      res.writeHead(answer.status, { 'content-type': 'application/problem+json', ...answer.headers })
      res.end(JSON.stringify({ status: answer.status }))
    })
  })
  server.listen(0, '127.0.0.1')
  await once(server, 'listening')
  t.teardown(() => { server.close() })
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}/v1/sessions`, seen }
}

let sent = 0
const post = () => ({ method: 'POST' as const, body: `attempt ${++sent}` })

t.test('a 503 with Retry-After is sent again after the wait, with its body built anew', async (t) => {
  const { url, seen } = await gateway(t, [{ status: 503, headers: { 'retry-after': '1' } }, { status: 201 }])
  sent = 0
  const res = await sendAgainWhenRefused(url, post)
  t.equal(res.statusCode, 201)
  t.same(await res.body.json(), { status: 201 })
  t.same(seen.map((s) => s.body), ['attempt 1', 'attempt 2'], 'two attempts, each with a body of its own')
  t.ok(seen[1]!.at - seen[0]!.at >= 950, `waited ~1 s as asked (${(seen[1]!.at - seen[0]!.at).toFixed(0)} ms)`)
})

t.test('a 429 with Retry-After is sent again too', async (t) => {
  const { url, seen } = await gateway(t, [{ status: 429, headers: { 'retry-after': '0' } }, { status: 200 }])
  const res = await sendAgainWhenRefused(url, post)
  t.equal(res.statusCode, 200)
  t.equal(seen.length, 2)
  t.ok(seen[1]!.at - seen[0]!.at >= 950, 'a wait under 1 s is taken as 1 s')
})

t.test('a refusal without Retry-After, and any other error, is answered at once', async (t) => {
  for (const answer of [{ status: 503 }, { status: 500, headers: { 'retry-after': '1' } }, { status: 400, headers: { 'retry-after': '1' } }, { status: 503, headers: { 'retry-after': 'soon' } }]) {
    const { url, seen } = await gateway(t, [answer, { status: 200 }])
    const res = await sendAgainWhenRefused(url, post)
    t.equal(res.statusCode, answer.status, `${answer.status} ${JSON.stringify(answer.headers ?? {})} is not sent again`)
    await res.body.dump()
    t.equal(seen.length, 1)
  }
})

t.test('it gives up after the attempts it was given and answers the last refusal', async (t) => {
  const { url, seen } = await gateway(t, [{ status: 503, headers: { 'retry-after': '1' } }])
  const res = await sendAgainWhenRefused(url, post, 2)
  t.equal(res.statusCode, 503)
  t.equal(res.headers['retry-after'], '1', 'the caller sees the refusal, with its Retry-After')
  await res.body.dump()
  t.equal(seen.length, 2)
})
