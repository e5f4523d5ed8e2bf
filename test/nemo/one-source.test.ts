// One source for each rule: the accepted file types are defined once (contract §3.5) and every
// place that names them says the same; the 2001 hint has one builder; the user id that
// create-session returns is kept for the `register?bind=` link when the mint gave none.
import t from 'tap'
import { readFileSync } from 'node:fs'
import { ACCEPTED_FILE_TYPES, ACCEPTED_FILE_TYPES_TEXT } from '../../src/nemo/file-types.ts'
import { classifyFailure, creditsHint, NemoError } from '../../src/nemo/errors.ts'
import { ACCEPTED_EXTENSIONS, mediaTypeOf } from '../../src/domain/uploads/media-types.ts'
import { buildGateway } from '../helpers/app.ts'

t.test('the accepted file types are one definition', async (t) => {
  t.same(ACCEPTED_FILE_TYPES.map((f) => f.extension), ['mp4', 'mov', 'avi', 'webm', 'mkv', 'jpg', 'jpeg', 'png', 'gif', 'webp', 'mp3', 'wav', 'm4a', 'aac'])
  t.equal(ACCEPTED_FILE_TYPES_TEXT, 'video: mp4, mov, avi, webm, mkv; image: jpg, jpeg, png, gif, webp; audio: mp3, wav, m4a, aac')
  t.same(ACCEPTED_EXTENSIONS, ACCEPTED_FILE_TYPES.map((f) => f.extension), 'the upload check uses it')
  t.ok(classifyFailure({ code: 4001 }).message.includes(ACCEPTED_FILE_TYPES_TEXT), 'the 4001 detail uses it')
  let refused: unknown
  try { mediaTypeOf('clip.flv') } catch (err) { refused = err }
  t.ok((refused as Error).message.includes(ACCEPTED_FILE_TYPES_TEXT), 'the 415 detail uses it')
  const openapi = readFileSync(new URL('../../openapi/openapi.json', import.meta.url), 'utf8')
  t.ok(openapi.includes(ACCEPTED_FILE_TYPES_TEXT), 'the upload route documents it')
})

t.test('say "upload" names the same types', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  const session = (await acme.as('alice', { method: 'POST', url: '/v1/sessions', payload: {} })).json()
  const res = await acme.as('alice', { method: 'POST', url: `/v1/sessions/${session.id}/say`, payload: { text: 'how do I upload a video?' } })
  t.equal(res.statusCode, 200, res.body)
  t.equal(res.json().upload.accepted, ACCEPTED_FILE_TYPES_TEXT)
  t.ok(res.json().message.includes(ACCEPTED_FILE_TYPES_TEXT))
})

t.test('one 2001 hint builder, URL-encoded', async (t) => {
  t.equal(creditsHint('anon_a/b c'), 'https://nemovideo.com/register?bind=anon_a%2Fb%20c')
  const err = classifyFailure({ code: 2001, userId: 'anon_a/b c' })
  t.ok(err instanceof NemoError && err.extensions.hint === creditsHint('anon_a/b c'))
})

t.test('create-session\'s user_id is kept for ?bind= when the mint gave none', async (t) => {
  const gw = await buildGateway(t)
  const acme = await gw.tenant('acme')
  t.equal((await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  const minted = await gw.app.prisma.credential.findFirstOrThrow()
  const upstreamUserId = minted.upstreamUserId
  t.match(upstreamUserId, /^anon_/)
  // the mint answer without user_id (examples elide it since c74ec3b)
  await gw.app.prisma.credential.update({ where: { id: minted.id }, data: { upstreamUserId: null } })
  t.equal((await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })).statusCode, 201)
  t.equal((await gw.app.prisma.credential.findFirstOrThrow()).upstreamUserId, upstreamUserId, 'learnt from create-session')
  await gw.sim.fault({ endpoint: 'create-session', code: 2001, message: 'insufficient credits' })
  const refused = await acme.as('carol', { method: 'POST', url: '/v1/sessions', payload: {} })
  t.equal(refused.statusCode, 402)
  t.equal(refused.json().hint, creditsHint(upstreamUserId), 'the bind link names the upstream user')
  const read = await acme.as('carol', { method: 'GET', url: '/v1/credits' })
  t.equal(read.json().hint ?? creditsHint(upstreamUserId), creditsHint(upstreamUserId), 'reads give the same hint')
})
