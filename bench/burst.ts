// The driver of bench/burst-client.ts, for the fairness benchmark and the admission test: the
// client process is started with its requests, says when it is ready, and `fire()` sends them
// all and resolves with their outcomes (in the order of the requests, ms from the send).
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'

export interface BurstRequest { method: 'POST' | 'GET', path: string, headers: Record<string, string>, body?: string }
export interface BurstOutcome { status: number, firstMs: number }
export interface Burst {
  fire: () => Promise<BurstOutcome[]>
  /** Stops the client if it still runs (a test's teardown). */
  kill: () => void
}

const root = fileURLToPath(new URL('..', import.meta.url))
const client = fileURLToPath(new URL('./burst-client.ts', import.meta.url))

/** `wrap`: the command line as run (e.g. pinned to a CPU with taskset). */
export async function startBurst (base: string, requests: BurstRequest[], wrap: (argv: string[]) => string[] = (argv) => argv): Promise<Burst> {
  const { hostname, port } = new URL(base)
  const argv = wrap([process.execPath, '--import=tsx', client])
  const child = spawn(argv[0]!, argv.slice(1), { cwd: root, stdio: ['pipe', 'pipe', 'inherit'] })
  let out = ''
  const ready = new Promise<void>((resolve) => child.stdout.on('data', (chunk: Buffer) => { out += chunk.toString(); if (out.startsWith('ready\n')) resolve() }))
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.stdin.write(JSON.stringify({ host: hostname, port: Number(port), requests }) + '\n')
  await Promise.race([ready, exited])
  return {
    fire: async () => {
      child.stdin.write('go\n')
      await exited
      return (JSON.parse(out.slice('ready\n'.length)) as { outcomes: BurstOutcome[] }).outcomes
    },
    kill: () => { if (child.exitCode === null) child.kill('SIGKILL') }
  }
}
