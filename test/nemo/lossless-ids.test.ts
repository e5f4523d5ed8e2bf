// Ids are strings, always exact: a 19-digit snowflake sent as a JSON number must never pass
// through a JS number (5529798706024415232 would come back as 5529798706024415000), in an
// envelope, a state answer or an SSE payload.
import t from 'tap'
import { decodeEnvelope } from '../../src/nemo/envelope.ts'
import { eventsFromData } from '../../src/nemo/events.ts'
import { readSession, readState } from '../../src/nemo/wire.ts'
import { buildGateway } from '../helpers/app.ts'

const SID = '5529798706024415232'
const UID = '1234567890123456789'

t.test('numeric ids in envelopes survive exactly', async (t) => {
  const created = decodeEnvelope(200, `{"code":0,"message":"success","data":{"task_id":9007199254740993,"session_id":${SID},"user_id":${UID}}}`)
  t.strictSame(readSession(created.data), { taskId: '9007199254740993', sessionId: SID, userId: UID })
  const state = decodeEnvelope(200, `{"code":0,"data":{"session_id":${SID},"task_id":"task_1","state":{"draft":{"d":10000,"t":[]},"video_infos":[{"id":${UID},"duration":30.5}]}}}`)
  const read = readState(state.data, 'fallback')
  t.equal(read.sessionId, SID)
  t.strictSame(read.state.videoInfos, [{ id: UID, duration: 30.5 }], 'other numbers stay numbers, unsafe integers become exact strings')
  t.strictSame(read.state.draft, { d: 10000, t: [] })
  const render = decodeEnvelope(200, '{"success":true,"data":{"id":"render_1","status":"completed","progress":100,"createdAt":1773423613616}}')
  t.strictSame(render.data, { id: 'render_1', status: 'completed', progress: 100, createdAt: 1773423613616 }, 'safe numbers untouched')
  t.strictSame(decodeEnvelope(200, '{"code":0,"data":{"a":"id 12345678901234567890 in text","b":1.5e300}}').data, { a: 'id 12345678901234567890 in text', b: 1.5e300 })
})

t.test('numeric ids in SSE payloads survive exactly', async (t) => {
  const [result] = eventsFromData(`{"content":{"parts":[{"functionResponse":{"id":"af-1","name":"edit_multitrack","response":{"session_id":${SID},"task_id":${UID}}}}],"role":"user"}}`)
  t.strictSame(result, { type: 'tool_result', name: 'edit_multitrack', id: 'af-1', result: { session_id: SID, task_id: UID } })
  const delta = eventsFromData(`{"actions":{"stateDelta":{"session_id":${SID}}}}`)
  t.strictSame(delta, [{ type: 'state_delta', delta: { session_id: SID } }])
  const typed = eventsFromData(`{"type":"tool_result","name":"x","result":{"user_id":${UID}}}`)
  t.strictSame(typed, [{ type: 'tool_result', name: 'x', result: { user_id: UID } }])
})

t.test('a simulator answering numeric session ids: the gateway keeps them exact', async (t) => {
  const gw = await buildGateway(t, { sim: { numericIds: true } })
  const acme = await gw.tenant('acme')
  const created = await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(created.statusCode, 201, created.body)
  const session = created.json()
  t.match(session.upstreamSessionId, /^\d{19}$/)
  t.notOk(Number.isSafeInteger(Number(session.upstreamSessionId)), 'a snowflake beyond 2^53')
  const state = await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}/state` })
  t.equal(state.statusCode, 200, state.body)
  t.equal(state.json().sessionId, session.id)
  const again = (await acme.as('alice', { method: 'GET', url: `/v1/sessions/${session.id}` })).json()
  t.equal(again.resetCount, 0, 'the upstream knew the session by the id the gateway kept (a rounded id would be a 1002)')
  t.equal(again.upstreamSessionId, session.upstreamSessionId)
})
