// `npm run demo` as a new user runs it: the whole journey against real processes, ending with a
// playable 1080p MP4 on disk; a failing step makes it exit non-zero, and it always stops what
// it started.
import t from 'tap'
import { spawn } from 'node:child_process'
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { mp4Info } from '../../src/media/mp4-info.ts'

async function runDemo (env: Record<string, string>): Promise<{ code: number | null, out: string }> {
  const child = spawn('npm', ['run', '--silent', 'demo'], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  child.stdout.on('data', (c: Buffer) => { out += c.toString() })
  child.stderr.on('data', (c: Buffer) => { out += c.toString() })
  const code = await new Promise<number | null>((resolve) => child.on('exit', resolve))
  return { code, out }
}

async function postgresFor (dataDir: string): Promise<boolean> {
  for (const pid of await readdir('/proc').catch(() => [])) {
    if (!/^\d+$/.test(pid)) continue
    const cmdline = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
    if (cmdline.includes('postgres') && cmdline.includes(dataDir)) return true
  }
  return false
}

t.test('npm run demo: upload, enhance, export, signed webhook, a playable 1080p MP4', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ngw-demo-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const dataDir = join(dir, 'data')
  const { code, out } = await runDemo({ DEMO_OUTPUT_DIR: join(dir, 'out'), DEMO_DATA_DIR: dataDir })
  t.equal(code, 0, out)
  for (const step of ['Start the gateway', 'Upload the video', 'enhance and upscale', 'Read the timeline', 'Export to a 1080p MP4', 'export.completed webhook', 'Download the MP4']) {
    t.match(out, new RegExp(`✔ .*${step}`), `step done: ${step}`)
  }
  t.match(out, /the upstream read 5 s 1280x720/, 'the upload was read for what it is')
  t.match(out, /tool enhance_video started/, 'the turn was shown live')
  t.match(out, /Timeline \(1 track\): 1\. Video: .*sample\.mp4 \(0-5s\)/)
  t.match(out, /signature verified/)
  const files = (await readdir(join(dir, 'out'))).filter((f) => f.startsWith('nemo-export-'))
  t.equal(files.length, 1, 'one MP4 downloaded')
  const info = mp4Info(await readFile(join(dir, 'out', files[0]!)))
  t.match(info, { durationMs: 5000, width: 1920, height: 1080 }, 'a 5 s 1920x1080 MP4')
  t.notOk(await postgresFor(dataDir), 'the embedded database was stopped')
})

t.test('a step that fails makes the demo exit non-zero, and everything it started stops', { timeout: 180_000 }, async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'ngw-demo-'))
  t.teardown(async () => { await rm(dir, { recursive: true, force: true }) })
  const dataDir = join(dir, 'data')
  const { code, out } = await runDemo({ DEMO_OUTPUT_DIR: join(dir, 'out'), DEMO_DATA_DIR: dataDir, SIM_RENDER_FAILURE_RATE: '1', SIM_RENDER_DURATION_MS: '2000' })
  t.equal(code, 1, out)
  t.match(out, /The demo failed: the export failed/)
  t.notOk(await postgresFor(dataDir), 'the embedded database was stopped')
})
