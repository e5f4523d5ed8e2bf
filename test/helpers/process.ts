// The gateway as a user runs it (`npm start`): a child process, its output collected, its
// address read from the "Server listening at" line.
import { spawn } from 'node:child_process'

const START = ['--import=tsx', '--import=./src/telemetry.ts', 'src/server.ts']
/** `npm start` itself: the compiled build, rebuilt first when src/ changed. */
const NPM_START = ['start', '--silent']

export interface RunningGateway {
  out: string
  err: string
  exit: Promise<number | null>
  url: Promise<string>
  kill: (signal: NodeJS.Signals) => void
}

export function startGateway (env: Record<string, string>, how: 'tsx' | 'npm start' = 'tsx'): RunningGateway {
  const [command, args] = how === 'tsx' ? [process.execPath, START] : ['npm', NPM_START]
  const child = spawn(command, args, { env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  const r: RunningGateway = {
    out: '',
    err: '',
    exit: new Promise(resolve => child.on('exit', code => resolve(code))),
    url: new Promise((resolve, reject) => {
      child.stdout.on('data', (chunk: Buffer) => {
        r.out += chunk.toString()
        const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(r.out)
        if (m) resolve(m[1]!)
      })
      child.on('exit', () => reject(new Error(`exited before listening: ${r.err}${r.out}`)))
    }),
    kill: (signal) => child.kill(signal)
  }
  child.stderr.on('data', (chunk: Buffer) => { r.err += chunk.toString() })
  r.url.catch(() => {}) // a run that is meant to fail never listens
  return r
}
