// The archive copy survives a crash: the upstream sends the file slowly, the gateway process is
// killed with SIGKILL half-way through the copy, and a new process on the same database and
// DATA_DIR finishes it. In the end there is one file, with the upstream's sha256, one
// `export.archived` event, and the download serves it after the upstream's URL has expired.
import t from 'tap'
import { createHash } from 'node:crypto'
import { readdir, readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { request } from 'undici'
import { FAST_EXPORTS, renderableSession } from './helpers/exports.ts'
import { startSimulator } from './helpers/simulator.ts'
import { adminTenant, gatewayEnv, jsonClient, startGateway, type RunningGateway } from './helpers/process.ts'
import { waitFor } from './helpers/sse.ts'

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex')
const SIZE = 6 * 1024 * 1024 + 3

async function filesUnder (dir: string): Promise<string[]> {
  const entries = await readdir(dir, { recursive: true, withFileTypes: true }).catch(() => [])
  return entries.filter((e) => e.isFile()).map((e) => join(e.parentPath, e.name).slice(dir.length + 1)).sort()
}

t.test('a gateway killed with SIGKILL in the middle of an archive copy: after a restart the copy completes once', { timeout: 120_000 }, async (t) => {
  // 6 MiB at 1 MiB/s: the kill lands inside a six-second copy
  const sim = await startSimulator(t, { renderDurationMs: 300, stepDelayMs: 1, generationMs: 20, mintLimitPerIp: 1000, outputBytes: SIZE, outputBytesPerSec: 1024 * 1024 })
  const config = { ...FAST_EXPORTS, OUTPUT_COPY_LEASE_MS: 2000 }
  const { env, adminToken } = await gatewayEnv(t, sim.url, Object.fromEntries(Object.entries(config).map(([k, v]) => [k, String(v)])))
  const outputs = join(env.DATA_DIR!, 'outputs')
  const kill = async (g: RunningGateway) => { g.kill('SIGKILL'); await g.exit }
  let gw = startGateway(env)
  t.teardown(async () => { await kill(gw) })
  let base = await gw.url
  const call = jsonClient(() => base)
  const { id: tenantId, as } = await adminTenant(call, adminToken)
  const tenantApi = { as: async (_user: string, o: any) => { const res = await call(o.method, o.url, o.payload, as); return { statusCode: res.status, json: () => res.json } } }
  const session = await renderableSession(tenantApi as any, 'alice')

  const started = (await call('POST', `/v1/sessions/${session.id}/exports`, {}, as)).json
  const done = await waitFor(async () => (await call('GET', `/v1/exports/${started.id}`, undefined, as)).json, (e: any) => e.status === 'completed', 20_000)
  t.equal(done.archive.state, 'pending', 'completed, the copy under way')
  // the copy has written part of the file
  await waitFor(async () => {
    const partial = await filesUnder(join(outputs, '.partial'))
    return partial.length === 1 ? (await stat(join(outputs, '.partial', partial[0]!))).size : 0
  }, (n) => n > 512 * 1024 && n < SIZE / 2, 20_000)
  await kill(gw)
  t.same((await filesUnder(outputs)).filter((f) => !f.startsWith('.partial/')), [], 'killed mid-copy: no file counts as archived')
  t.equal((await sim.counters()).requests.download, 1, 'one copy had started')

  gw = startGateway(env)
  base = await gw.url
  const after = await waitFor(async () => (await call('GET', `/v1/exports/${started.id}`, undefined, as)).json, (e: any) => e.archive?.state !== 'pending', 60_000)
  t.equal(after.archive.state, 'archived', 'the restarted gateway finished the copy')

  const upstream = Buffer.from(await (await request(`${sim.url}/render-result/${encodeURIComponent(done.renderId)}.mp4`)).body.arrayBuffer())
  t.equal(upstream.length, SIZE)
  t.same(await filesUnder(outputs), [`${tenantId}/${started.id}.mp4`], 'one file, and the partial copy of the killed process is gone')
  const stored = await readFile(join(outputs, tenantId, `${started.id}.mp4`))
  t.equal(sha256(stored), sha256(upstream), 'the stored file has the upstream\'s sha256')
  t.match(after.archive, { size: SIZE, sha256: sha256(upstream) })
  const events = (await call('GET', `/v1/sessions/${session.id}/events?limit=1000`, undefined, as)).json.items as any[]
  t.equal(events.filter((e) => e.type === 'export.archived').length, 1, 'one export.archived event')
  await new Promise((resolve) => setTimeout(resolve, 3000)) // past a lease: nothing copies it again
  t.equal((await sim.counters()).requests.download, 2, 'copied once more after the restart, not more')

  await sim.configure({ outputTtlMs: 0 })
  const file = await request(`${base}/v1/exports/${started.id}/download`, { headers: as })
  t.equal(file.statusCode, 200)
  t.equal(sha256(Buffer.from(await file.body.arrayBuffer())), sha256(upstream), 'the download serves it after the upstream URL expired')
})
