// `node --import=tsx bench/start.ts [--quick]`: how long `npm start` takes to be ready.
//
// Spawn to the first 200 from /health/ready, polled every 10 ms, with a fresh DATA_DIR (initdb
// of the embedded Postgres, migrations, the first-run key) and then again on the same DATA_DIR
// (warm: the cluster and schema exist). Each round is fresh then warm; medians with min-max.
// dist/ is built before the first run, so `npm start`'s `build.js --if-stale` has nothing to do.
import { spawn } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { request } from 'undici'
import { freePort } from './free-port.ts'
import { buildDist, machine, pin, pinSelf, range, root, runLine, startSimulator, stat, stop, until, writeResults, type Child } from './lib.ts'

const { values: args } = parseArgs({ options: { quick: { type: 'boolean', default: false } } })
const QUICK = args.quick
const RUNS = QUICK ? 1 : 3

/** `npm start` in its own process group, so stopping it stops the gateway npm execs. */
function npmStart (env: Record<string, string>): Child {
  const proc = spawn(pin(0, ['npm'])[0]!, [...pin(0, ['npm']).slice(1), 'start'], {
    cwd: root, detached: true, stdio: ['ignore', 'pipe', 'pipe'], env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }
  })
  let out = ''
  const keep = (c: Buffer) => { out = (out + c.toString()).slice(-20_000) }
  proc.stdout?.on('data', keep)
  proc.stderr?.on('data', keep)
  return { proc, out: () => out }
}

async function stopGroup (child: Child): Promise<void> {
  if (child.proc.exitCode !== null || child.proc.signalCode !== null) return
  const exited = new Promise((resolve) => child.proc.once('exit', resolve))
  process.kill(-child.proc.pid!, 'SIGTERM')
  await exited
}

/** ms from spawn to the first 200 of /health/ready. */
async function timeToReady (simUrl: string, dataDir: string): Promise<number> {
  const port = await freePort()
  const started = performance.now()
  const child = npmStart({ NEMO_BASE_URL: simUrl, LOG_LEVEL: 'warn', DATA_DIR: dataDir, PORT: String(port) })
  try {
    await until('npm start', child, async () => (await request(`http://127.0.0.1:${port}/health/ready`)).statusCode === 200 ? true : undefined, 180_000, 10)
    return performance.now() - started
  } finally {
    await stopGroup(child)
  }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const sim = await startSimulator()
  try {
    const fresh: number[] = []
    const warm: number[] = []
    for (let i = 1; i <= RUNS; i++) {
      const dataDir = await mkdtemp(join(tmpdir(), 'ngw-bench-start-'))
      try {
        fresh.push(await timeToReady(sim.url, dataDir))
        warm.push(await timeToReady(sim.url, dataDir))
      } finally {
        await rm(dataDir, { recursive: true, force: true })
      }
      process.stderr.write(`run ${i}: fresh ${fresh.at(-1)!.toFixed(0)} ms, warm ${warm.at(-1)!.toFixed(0)} ms\n`)
    }
    const date = new Date().toISOString()
    const report = { date, machine: machine(), settings: { quick: QUICK, runs: RUNS }, freshMs: { ...stat(fresh), runs: fresh }, warmMs: { ...stat(warm), runs: warm } }
    const table = [
      runLine(date, `${QUICK ? 'quick run: ' : ''}\`npm start\` (embedded Postgres), spawn to the first 200 from \`/health/ready\`; ${RUNS} runs each, fresh then warm; median (min-max).`),
      '',
      '| DATA_DIR | time to ready, ms |',
      '| --- | --- |',
      `| fresh (initdb, migrations, first-run key) | ${range(stat(fresh), 0)} |`,
      `| warm (second start on the same DATA_DIR) | ${range(stat(warm), 0)} |`
    ].join('\n')
    await writeResults('start', report, table)
  } finally {
    await stop(sim.child)
  }
}

await main()
