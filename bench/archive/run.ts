// `npm run bench:archive [-- --mib 80 --rounds 2]`
//
// The archive copy of a large rendered file, local disk against S3 (s3rver, in this process),
// side by side in one run: the simulator pads its MP4 to --mib MiB; the gateway (dist/, its
// own process, embedded Postgres) renders it and copies it into its store. Reported per store:
// the copy's throughput (the file's size over archivedAt - completedAt, which includes the
// job's pickup), the same bytes read straight from the simulator by this process (the ceiling),
// the download of the archived copy through the gateway, and the gateway's resident memory
// before and at its peak during the copy (a copy that buffered the file would add its size).
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import S3rver from 's3rver'
import { request } from 'undici'
import { buildDist, json, pinSelf, rssKiB, runLine, startGateway, startSimulator, stop, stopGateway, writeResults } from '../lib.ts'

const { values: args } = parseArgs({ options: { mib: { type: 'string', default: '80' }, rounds: { type: 'string', default: '2' } } })
const SIZE = Number(args.mib) * 1024 * 1024
const ROUNDS = Number(args.rounds)
const MiB = 1024 * 1024

/** Reads a URL to its end, returning MiB/s. */
async function readAll (url: string, headers: Record<string, string> = {}): Promise<number> {
  const t0 = performance.now()
  const res = await request(url, { headers })
  let n = 0
  for await (const chunk of res.body) n += (chunk as Buffer).length
  if (n !== SIZE) throw new Error(`read ${n} bytes of ${SIZE} from ${url}`)
  return SIZE / MiB / ((performance.now() - t0) / 1000)
}

interface Row { storage: string, round: number, copyMiBs: number, directMiBs: number, downloadMiBs: number, rssBeforeMiB: number, rssPeakMiB: number }

pinSelf()
buildDist()
const sim = await startSimulator({ SIM_OUTPUT_BYTES: String(SIZE), SIM_RENDER_DURATION_MS: '300', SIM_GENERATION_MS: '20', SIM_STEP_DELAY_MS: '1' })
const s3dir = await mkdtemp(join(tmpdir(), 'ngw-bench-s3-'))
const s3 = new S3rver({ port: 0, address: '127.0.0.1', silent: true, directory: s3dir, configureBuckets: [{ name: 'bench-outputs', configs: [] }] })
const { port: s3port } = await s3.run() as { port: number }
const rows: Row[] = []
try {
  for (let round = 1; round <= ROUNDS; round++) {
    for (const storage of ['local', 's3'] as const) {
      const env: Record<string, string> = { EXPORT_POLL_INITIAL_MS: '100', EXPORT_POLL_MAX_MS: '200', JOBS_POLL_INTERVAL_MS: '500', OUTPUT_STORAGE: storage }
      if (storage === 's3') Object.assign(env, { S3_ENDPOINT: `http://127.0.0.1:${s3port}`, S3_BUCKET: 'bench-outputs', S3_ACCESS_KEY_ID: 'S3RVER', S3_SECRET_ACCESS_KEY: 'S3RVER' })
      const gw = await startGateway(sim.url, env)
      try {
        const headers = { authorization: `Bearer ${gw.key}`, 'x-user-id': 'bench', 'content-type': 'application/json' }
        const session = await json(`${gw.url}/v1/sessions`, { method: 'POST', headers, body: {} })
        const turn = await json(`${gw.url}/v1/sessions/${session.id}/turns`, { method: 'POST', headers, body: { text: '[scenario:generation] a city at night' } })
        while ((await json(`${gw.url}/v1/sessions/${session.id}/turns/${turn.id}`, { headers })).status === 'running') await new Promise((resolve) => setTimeout(resolve, 50))
        const rssBefore = (await rssKiB(gw.child.proc.pid!))!
        let rssPeak = rssBefore
        const sampler = setInterval(() => { rssKiB(gw.child.proc.pid!).then((kib) => { if (kib !== null) rssPeak = Math.max(rssPeak, kib) }, () => {}) }, 50)
        const started = await json(`${gw.url}/v1/sessions/${session.id}/exports`, { method: 'POST', headers, body: {} })
        let e: any
        for (;;) {
          e = await json(`${gw.url}/v1/exports/${started.id}`, { headers })
          if (e.archive !== null && e.archive.state !== 'pending') break
          if (e.status === 'failed') throw new Error(`export failed: ${JSON.stringify(e.error)}`)
          await new Promise((resolve) => setTimeout(resolve, 20))
        }
        clearInterval(sampler)
        if (e.archive.state !== 'archived' || e.archive.size !== SIZE) throw new Error(`not archived: ${JSON.stringify(e.archive)}`)
        const copyS = (new Date(e.archive.archivedAt).getTime() - new Date(e.completedAt).getTime()) / 1000
        const directMiBs = await readAll(`${sim.url}/render-result/${encodeURIComponent(e.renderId)}.mp4`)
        const downloadMiBs = await readAll(`${gw.url}/v1/exports/${e.id}/download`, headers)
        rows.push({ storage, round, copyMiBs: SIZE / MiB / copyS, directMiBs, downloadMiBs, rssBeforeMiB: rssBefore / 1024, rssPeakMiB: rssPeak / 1024 })
        process.stderr.write(`${storage} round ${round}: ${JSON.stringify(rows.at(-1))}\n`)
      } finally {
        await stopGateway(gw)
      }
    }
  }
} finally {
  await stop(sim.child)
  await s3.close()
  await rm(s3dir, { recursive: true, force: true })
}

const f = (n: number) => n.toFixed(0)
const table = [
  runLine(new Date().toISOString(), `a ${args.mib} MiB file, ${ROUNDS} round(s), local and S3 (s3rver on the same machine) alternating.`),
  '',
  '| store | round | archive copy MiB/s (upstream -> store) | read straight from the simulator MiB/s | download of the archived copy MiB/s | gateway RSS before / peak during the copy (MiB) |',
  '| --- | --- | --- | --- | --- | --- |',
  ...rows.map((r) => `| ${r.storage} | ${r.round} | ${f(r.copyMiBs)} | ${f(r.directMiBs)} | ${f(r.downloadMiBs)} | ${f(r.rssBeforeMiB)} / ${f(r.rssPeakMiB)} (+${f(r.rssPeakMiB - r.rssBeforeMiB)}) |`)
].join('\n')
await writeResults('archive', { size: SIZE, rounds: ROUNDS, rows }, table)
