// The GraphQL-over-HTTP spec's own audit suite (graphql-http's serverAudits), run against the
// real gateway on a real port with a tenant's key: every MUST and every SHOULD passes. The
// suite sends dozens of malformed requests: none of them is logged as the gateway's failure.
import t from 'tap'
import { serverAudits } from 'graphql-http'
import { buildGateway } from '../helpers/app.ts'

t.test('graphql-http serverAudits: every MUST and SHOULD passes', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const base = await gw.app.listen({ port: 0, host: '127.0.0.1' })
  const fetchFn = async (input: RequestInfo | URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers)
    headers.set('authorization', `Bearer ${acme.key}`)
    headers.set('x-user-id', 'alice')
    return await fetch(input, { ...init, headers })
  }
  const from = gw.logs.length
  const counts: Record<string, { ok: number, total: number }> = { MUST: { ok: 0, total: 0 }, SHOULD: { ok: 0, total: 0 }, MAY: { ok: 0, total: 0 } }
  for (const audit of serverAudits({ url: `${base}/graphql`, fetchFn })) {
    const level = audit.name.split(' ')[0]!
    const result = await audit.fn()
    counts[level]!.total++
    if (result.status === 'ok') counts[level]!.ok++
    else if (level !== 'MAY') t.fail(`${audit.id} ${audit.name}: ${result.reason}`)
    else t.comment(`MAY not met: ${audit.name}: ${result.reason}`)
  }
  t.comment(Object.entries(counts).map(([level, c]) => `${level} ${c.ok} of ${c.total}`).join(', '))
  t.equal(counts.MUST!.ok, counts.MUST!.total, 'every MUST')
  t.equal(counts.SHOULD!.ok, counts.SHOULD!.total, 'every SHOULD')
  const levels = gw.logs.slice(from).map(line => (JSON.parse(line) as { level: number }).level)
  t.notOk(levels.some(level => level >= 50), 'a client\'s mistakes are not logged as errors')
})
