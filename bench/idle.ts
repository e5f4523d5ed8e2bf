// `node --import=tsx bench/idle.ts [--runs 3] [--baseline <dir>]`: the resident memory of an
// idle gateway. `npm start`'s process (the compiled build) on a fresh DATA_DIR (embedded
// Postgres: initdb, migrations, the first-run key), read from /proc 5 s after its first
// 200 from /health/ready, with its V8 heap (from /metrics). The gateway process only: the
// embedded Postgres runs in processes of its own.
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { buildDist, machine, median, rssKiB, runLine, startGateway, startSimulator, stop, stopGateway, until, writeResults } from './lib.ts'

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, baseline: { type: 'string' }, quick: { type: 'boolean', default: false } } })
const RUNS = args.quick ? 1 : Number(args.runs)

async function idle (simUrl: string, dir?: string): Promise<{ rssMiB: number, heapUsedMiB: number }> {
  const gw = await startGateway(simUrl, {}, [], dir)
  try {
    await until('ready', gw.child, async () => (await request(`${gw.url}/health/ready`)).statusCode === 200 ? true : undefined)
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const rss = (await rssKiB(gw.child.proc.pid!))! / 1024
    const metrics = await (await request(`${gw.url}/metrics`)).body.text()
    const used = metrics.split('\n').filter((l) => l.startsWith('v8js_memory_heap_used{')).reduce((n, l) => n + Number(l.split(' ').at(-1)), 0)
    return { rssMiB: rss, heapUsedMiB: used / 1048576 }
  } finally {
    await stopGateway(gw)
  }
}

async function main (): Promise<void> {
  buildDist()
  const sim = await startSimulator()
  try {
    const builds: Array<[string, string | undefined]> = [['this build', undefined], ...(args.baseline === undefined ? [] : [['baseline', args.baseline] as [string, string]])]
    const runs: Record<string, Array<{ rssMiB: number, heapUsedMiB: number }>> = {}
    for (let i = 0; i < RUNS; i++) {
      for (const [name, dir] of builds) {
        (runs[name] ??= []).push(await idle(sim.url, dir))
        process.stderr.write(`${name}: ${runs[name]!.at(-1)!.rssMiB.toFixed(0)} MiB RSS\n`)
      }
    }
    const date = new Date().toISOString()
    const table = [
      runLine(date, `\`npm start\`'s process on a fresh DATA_DIR, 5 s after ready; median of ${RUNS} runs.`),
      '',
      '| build | idle RSS, MiB | V8 heap used, MiB |',
      '| --- | --- | --- |',
      ...builds.map(([name]) => `| ${name} | ${median(runs[name]!.map((r) => r.rssMiB)).toFixed(0)} | ${median(runs[name]!.map((r) => r.heapUsedMiB)).toFixed(0)} |`)
    ].join('\n')
    await writeResults('idle', { date, machine: machine(), runs }, table)
  } finally {
    await stop(sim.child)
  }
}

await main()
