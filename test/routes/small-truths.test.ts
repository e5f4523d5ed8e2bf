// Small truths: a garbage Last-Event-ID is a 400 like a bad `after` (it used to replay the
// whole log), and JSON bodies are not coerced (`{"text": 42}` is not the string "42").
import t from 'tap'
import { buildGateway } from '../helpers/app.ts'

t.test('a garbage Last-Event-ID is a 400, not a replay of the whole log', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const url = `/v1/sessions/${session.id}/events`
  for (const bad of ['xyz', '-1', '1.5', '12345678901234567890']) {
    const res = await acme.as('alice', { method: 'GET', url, headers: { 'last-event-id': bad } })
    t.equal(res.statusCode, 400, `Last-Event-ID ${bad}`)
    t.equal(res.json().code, 'GW_ERR_VALIDATION')
    const sse = await acme.as('alice', { method: 'GET', url, headers: { 'last-event-id': bad, accept: 'text/event-stream' } })
    t.equal(sse.statusCode, 400, `Last-Event-ID ${bad} on the event stream`)
  }
  t.equal((await acme.as('alice', { method: 'GET', url: `${url}?after=xyz` })).statusCode, 400, 'like a bad after')
  t.equal((await acme.as('alice', { method: 'GET', url, headers: { 'last-event-id': '0' } })).statusCode, 200)
})

t.test('JSON bodies are not coerced', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  for (const text of [42, true, ['hello']]) {
    const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/turns`, payload: { text } })
    t.equal(res.statusCode, 400, `text ${JSON.stringify(text)}`)
    t.equal(res.json().code, 'GW_ERR_VALIDATION')
    const say = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text } })
    t.equal(say.statusCode, 400, `say ${JSON.stringify(text)}`)
  }
  t.equal((await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: { title: 7 } })).statusCode, 400, 'a number is not a title')
  t.equal((await gw.app.prisma.turn.count()), 0, 'nothing was started')
  // query strings are text by nature and are still read as numbers
  t.equal((await acme.as('alice', { method: 'GET', url: '/v1/sessions?limit=2' })).statusCode, 200)
})
