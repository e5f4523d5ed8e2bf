// `node --import=tsx bench/idle-parts.ts [--runs 3] [--baseline <dir>]`: where an idle gateway's
// resident memory goes, for this build and another checkout's, measured the same way.
//
// Loading: fresh processes that only load code, their RSS read from /proc once loaded: node
// alone; with `npm start`'s --import (telemetry); and then the app's modules too (`import
// ('./dist/app.js')`, nothing started). The idle gateway: `npm start`'s command on a fresh
// DATA_DIR, 5 s after its first 200 from /health/ready (as bench/idle.ts), its inspector open to
// read V8's heap spaces, its mappings in /proc/<pid>/smaps sorted into: file-backed pages
// (node's binary, ICU data), the V8 heap (the young generation apart), malloc (the main heap
// and the thread arenas: 64 MiB-aligned anonymous mappings), WebAssembly code (executable
// anonymous mappings beyond V8's code space) and the rest (WebAssembly memories, stacks...).
// The inspector adds a thread and a little memory of its own. Medians of --runs.
import { spawnSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { freePort } from './free-port.ts'
import { buildDist, inspectorCall, machine, median, root, runLine, startCommand, startGateway, startSimulator, stop, stopGateway, until, writeResults } from './lib.ts'

const { values: args } = parseArgs({ options: { runs: { type: 'string', default: '3' }, baseline: { type: 'string' } } })
const RUNS = Number(args.runs)
const MiB = 1024 * 1024

type Parts = Record<string, number>

/** RSS (MiB) of a fresh node that runs `code` after npm start's --import flags (when `imports`). */
function loaded (dir: string, code: string, imports: boolean): number {
  const flags = imports ? startCommand(dir).args.filter((a) => a.startsWith('--import')) : []
  const out = spawnSync(process.execPath, [...flags, '--input-type=module', '-e', `${code}; process.stdout.write(String(process.memoryUsage.rss()))`], { cwd: dir, encoding: 'utf8', env: { PATH: process.env.PATH ?? '', LOG_LEVEL: 'warn' } })
  if (out.status !== 0) throw new Error(`${dir}: ${out.stderr}`)
  return Number(out.stdout.trim().split('\n').at(-1)) / MiB
}

function loading (dir: string): Parts {
  return {
    'node alone': loaded(dir, '', false),
    '+ npm start\'s --import (telemetry)': loaded(dir, '', true),
    '+ the app\'s modules (nothing started)': loaded(dir, 'await import("./dist/app.js")', true)
  }
}

async function idle (simUrl: string, dir: string): Promise<Parts> {
  const port = await freePort()
  const gw = await startGateway(simUrl, {}, [`--inspect=127.0.0.1:${port}`], dir)
  try {
    await until('ready', gw.child, async () => (await request(`${gw.url}/health/ready`)).statusCode === 200 ? true : undefined)
    await new Promise((resolve) => setTimeout(resolve, 5000))
    const pid = gw.child.proc.pid!
    const status = await readFile(`/proc/${pid}/status`, 'utf8')
    const kib = (field: string) => Number(new RegExp(`${field}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024
    const spaces = JSON.parse((await inspectorCall(port, 'Runtime.evaluate', {
      expression: 'JSON.stringify(require("v8").getHeapSpaceStatistics().map((s) => [s.space_name, s.physical_space_size]))',
      includeCommandLineAPI: true
    })).result.value as string) as Array<[string, number]>
    const sum = (pick: (name: string) => boolean) => spaces.filter(([name]) => pick(name)).reduce((n, [, b]) => n + b, 0) / MiB
    const young = sum((name) => name.startsWith('new'))
    const heap = sum(() => true)
    // V8's code space is executable too: what is executable beyond it is WebAssembly's code
    const jit = sum((name) => name.startsWith('code'))
    let mainHeap = 0
    let arenas = 0
    let code = 0
    let anon = 0
    let head = ''
    for (const line of (await readFile(`/proc/${pid}/smaps`, 'utf8')).split('\n')) {
      if (/^[0-9a-f]+-[0-9a-f]+ /.test(line)) { head = line; continue }
      const rss = /^Rss:\s+(\d+) kB/.exec(line)
      if (rss === null) continue
      const mib = Number(rss[1]) / 1024
      const [range, perms, , , , name] = head.split(/\s+/)
      if (name === '[heap]') { mainHeap += mib; continue }
      if (name !== undefined && name !== '') continue
      anon += mib
      const [start, end] = range!.split('-').map((x) => parseInt(x, 16))
      if (perms!.includes('x')) code += mib
      else if (start! % (64 * MiB) === 0 && end! - start! <= 64 * MiB) arenas += mib
    }
    const total = kib('VmRSS')
    return {
      'idle gateway (with its inspector)': total,
      'of which file-backed (node\'s binary, ICU data)': kib('RssFile'),
      'of which V8 young generation': young,
      'of which V8 old generation, code, large objects': heap - young,
      'of which malloc (main heap and thread arenas)': mainHeap + arenas,
      'of which WebAssembly code (outside the V8 heap)': Math.max(0, code - jit),
      'of which other anonymous memory': anon - arenas - heap - Math.max(0, code - jit)
    }
  } finally {
    await stopGateway(gw)
  }
}

async function main (): Promise<void> {
  buildDist()
  const builds: Array<[string, string]> = [['this build', root], ...(args.baseline === undefined ? [] : [['baseline', args.baseline] as [string, string]])]
  const runs: Record<string, Parts[]> = {}
  const sim = await startSimulator()
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const [name, dir] of builds) {
        const parts = { ...loading(dir), ...await idle(sim.url, dir) }
        ;(runs[name] ??= []).push(parts)
        process.stderr.write(`${name}: ${JSON.stringify(Object.fromEntries(Object.entries(parts).map(([k, v]) => [k, Math.round(v)])))}\n`)
      }
    }
  } finally {
    await stop(sim.child)
  }
  const rows = Object.keys(runs[builds[0]![0]]![0]!)
  const date = new Date().toISOString()
  const table = [
    runLine(date, `RSS in MiB, median of ${RUNS} runs; loading: fresh processes that only load code; idle: \`npm start\`'s process on a fresh DATA_DIR, 5 s after ready, with its inspector open.`),
    '',
    `| part | ${builds.map(([name]) => name).join(' | ')} |`,
    `| --- | ${builds.map(() => '---').join(' | ')} |`,
    ...rows.map((row) => `| ${row} | ${builds.map(([name]) => median(runs[name]!.map((r) => r[row]!)).toFixed(0)).join(' | ')} |`)
  ].join('\n')
  await writeResults('idle-parts', { date, machine: machine(), runs }, table)
}

await main()
