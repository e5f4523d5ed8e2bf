// Compile src/ to dist/ (plain JavaScript, no type check: `npm run typecheck` does that) so that
// `npm start` runs JavaScript instead of compiling TypeScript at every start. Runs after
// `npm ci`; with --if-stale (what `npm start` does) it compiles only when a file under src/ or
// the build config is newer than the last build, so an edited checkout never runs old code.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { readdirSync, statSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'

const root = new URL('..', import.meta.url).pathname
const stamp = join(root, 'dist', '.built')

function newest (path) {
  const s = statSync(path)
  if (!s.isDirectory()) return s.mtimeMs
  let max = s.mtimeMs
  for (const entry of readdirSync(path)) max = Math.max(max, newest(join(path, entry)))
  return max
}

function builtAt () {
  try { return statSync(stamp).mtimeMs } catch { return -1 }
}

const inputs = ['src', 'tsconfig.json', 'tsconfig.build.json', 'package-lock.json'].map((p) => join(root, p))
if (process.argv.includes('--if-stale') && builtAt() >= Math.max(...inputs.map(newest))) process.exit(0)

const started = performance.now()
rmSync(join(root, 'dist'), { recursive: true, force: true })
let tsc
try {
  tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc')
} catch {
  console.error('build skipped: TypeScript is not installed (npm ci --omit=dev?); dist/ is used as it is')
  process.exit(0)
}
const result = spawnSync(process.execPath, [tsc, '-p', join(root, 'tsconfig.build.json')], { stdio: 'inherit' })
if (result.status !== 0) {
  console.error('build failed: could not compile src/ to dist/ (see above)')
  process.exit(result.status ?? 1)
}
writeFileSync(stamp, new Date().toISOString() + '\n')
console.error(`built dist/ in ${Math.round(performance.now() - started)} ms`)
