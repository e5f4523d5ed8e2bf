// Attribution (contract §2.3): the product's own frontmatter name goes out as X-Skill-Source,
// and the simulator refuses an export whose X-Skill-Source is not the configured one, so a
// wrong default cannot pass the tests again.
import t from 'tap'
import { buildConfig } from '../../src/config.ts'
import { DEFAULT_OPTIONS } from '../../src/simulator/config.ts'
import { exportSetup, settled } from '../helpers/exports.ts'
import { startSim } from '../simulator/helper.ts'

const DRAFT = { t: [{ tt: 0, sg: [{ src: 'https://cdn.local/sim/clip1.mp4', st: 0, d: 10000 }] }], d: 10000, m: { title: 'x', width: 1920, height: 1080 } }

t.test('the documented attribution values are the defaults', async (t) => {
  const config = buildConfig()
  t.equal(config.NEMO_SKILL_SOURCE, 'hd-local-ai')
  t.equal(DEFAULT_OPTIONS.skillSource, 'hd-local-ai', 'the simulator expects the same value')
  t.equal(buildConfig({ NEMO_SKILL_SOURCE: 'other-skill' }).NEMO_SKILL_SOURCE, 'other-skill', 'still configurable')
})

t.test('the simulator refuses a render with the wrong X-Skill-Source', async (t) => {
  const sim = await startSim(t)
  const { token } = await sim.anon()
  const sid = await sim.session(token)
  const headers = (source: string) => ({ 'x-skill-source': source, 'x-skill-version': '1.9', 'x-skill-platform': 'unknown' })
  const body = (id: string) => ({ id, sessionId: sid, draft: DRAFT })
  const wrong = await sim.call('POST', '/api/render/proxy/lambda', { token, headers: headers('nemo-gateway'), body: body('r1') })
  t.equal(wrong.status, 402, 'a foreign source is refused like a missing one')
  t.equal(wrong.body.success, false)
  const right = await sim.call('POST', '/api/render/proxy/lambda', { token, headers: headers('hd-local-ai'), body: body('r2') })
  t.equal(right.status, 200)
  t.equal(right.body.success, true)
})

t.test('a gateway with a wrong source cannot export; with the defaults it can', async (t) => {
  const good = await exportSetup(t, { endpoint: false })
  const res = await good.acme.as('alice', { method: 'POST', url: `/v1/sessions/${good.session.id}/exports`, payload: {} })
  t.equal(res.statusCode, 202, res.body)
  t.equal((await settled(good.acme, 'alice', res.json().id as string)).status, 'completed', 'the default source exports')

  const wrong = await exportSetup(t, { endpoint: false, config: { NEMO_SKILL_SOURCE: 'nemo-gateway' } })
  const refused = await wrong.acme.as('alice', { method: 'POST', url: `/v1/sessions/${wrong.session.id}/exports`, payload: {} })
  t.equal(refused.statusCode, 402)
  t.equal(refused.json().code, 'GW_ERR_PLAN_REQUIRED', 'a foreign source is refused by the upstream')
})
