// Tools (the admin CLI) that run next to a gateway on the embedded database must not start a
// second PostgreSQL on the same directory: they connect to the running one, whose port is
// in postmaster.pid (line 4) and whose password is in <DATA_DIR>/pg-password.
import { readFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'

export async function runningEmbeddedUrl (dataDir: string): Promise<string | null> {
  const root = resolve(dataDir)
  const pidText = await readFile(join(root, 'pg', 'postmaster.pid'), 'utf8').catch(() => null)
  if (pidText === null) return null
  const lines = pidText.split('\n')
  const pid = Number.parseInt(lines[0] ?? '', 10)
  const port = Number.parseInt(lines[3] ?? '', 10)
  if (!Number.isInteger(pid) || !Number.isInteger(port)) return null
  try {
    process.kill(pid, 0)
  } catch {
    return null
  }
  const password = (await readFile(join(root, 'pg-password'), 'utf8').catch(() => '')).trim()
  if (password === '') return null
  return `postgres://postgres:${encodeURIComponent(password)}@127.0.0.1:${port}/postgres`
}
