// A burst of requests from a child process of its own (bench/burst-client.ts: raw sockets, a new
// connection each), so that the test process, which times another caller meanwhile (and may
// run the simulator), is not the one busy sending and reading them.
import { spawn } from 'node:child_process'
import type { Test } from 'tap'

export interface BurstRequest { method: 'POST' | 'GET', path: string, headers: Record<string, string>, body?: string }
export interface BurstOutcome { status: number, firstMs: number }

/** Starts the client with its requests ready; `fire()` sends them all and resolves with their outcomes. */
export async function burstClient (t: Test, base: string, requests: BurstRequest[]): Promise<{ fire: () => Promise<BurstOutcome[]> }> {
  const { hostname, port } = new URL(base)
  const child = spawn(process.execPath, ['--import=tsx', 'bench/burst-client.ts'], { stdio: ['pipe', 'pipe', 'inherit'] })
  t.teardown(() => { if (child.exitCode === null) child.kill('SIGKILL') })
  let out = ''
  let ready: () => void
  const isReady = new Promise<void>((resolve) => { ready = resolve })
  child.stdout.on('data', (chunk: Buffer) => {
    out += chunk.toString()
    if (out.startsWith('ready\n')) ready()
  })
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()))
  child.stdin.write(JSON.stringify({ host: hostname, port: Number(port), requests }) + '\n')
  await Promise.race([isReady, exited])
  return {
    fire: async () => {
      child.stdin.write('go\n')
      await exited
      return (JSON.parse(out.slice('ready\n'.length)) as { outcomes: BurstOutcome[] }).outcomes
    }
  }
}
