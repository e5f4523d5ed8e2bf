// The README is the only manual a user of this repository has: every `npm run` it names
// exists, every setting it lists is one the gateway or the simulator reads (and every one they
// read is listed), and every file it links to is in the repository, not beside it.
import { test } from 'tap'
import { access, readFile } from 'node:fs/promises'
import { ConfigSchema } from '../../src/config.ts'
import { DEFAULT_OPTIONS, envName } from '../../src/simulator/config.ts'

const root = new URL('../../', import.meta.url)
const readme = await readFile(new URL('README.md', root), 'utf8')

/** First-column names of the table that follows `heading`, e.g. `PORT` / `HOST`. */
function tableNames (header: string): Set<string> {
  const start = readme.indexOf(header)
  const rows = readme.slice(start).split('\n').slice(2)
  const names = new Set<string>()
  for (const row of rows) {
    if (!row.startsWith('|')) break
    for (const m of (row.split('|')[1] ?? '').matchAll(/`([A-Z][A-Z0-9_]+)`/g)) names.add(m[1]!)
  }
  return names
}

test('every npm script the README names exists', async (t) => {
  const { scripts } = JSON.parse(await readFile(new URL('package.json', root), 'utf8')) as { scripts: Record<string, string> }
  const named = new Set([...readme.matchAll(/npm run (?:-s |--silent )?([a-z][\w:-]*)/g)].map((m) => m[1]!))
  t.ok(named.size > 5)
  for (const name of named) t.ok(scripts[name], `npm run ${name}`)
})

test('the configuration table lists exactly the settings the gateway reads', async (t) => {
  const listed = tableNames('| variable | default | meaning |')
  const read = new Set(Object.keys(ConfigSchema.properties))
  t.same([...read].filter((k) => !listed.has(k)), [], 'every setting is documented')
  t.same([...listed].filter((k) => !read.has(k) && !k.startsWith('OTEL_')), [], 'no documented setting is unknown')
})

test('the simulator table lists exactly the simulator options', async (t) => {
  const listed = tableNames('| simulator variable | default | meaning |')
  const read = new Set([...Object.keys(DEFAULT_OPTIONS).map(envName), 'SIM_PORT', 'SIM_HOST', 'SIM_LOG_LEVEL'])
  t.same([...read].filter((k) => !listed.has(k)), [], 'every simulator option is documented')
  t.same([...listed].filter((k) => !read.has(k)), [], 'no documented option is unknown')
})

test('the README stands alone: its links point into the repository', async (t) => {
  t.notMatch(readme, /\.\.\/shared/, 'nothing beside the repository')
  for (const [, target] of readme.matchAll(/\]\(((?!https?:|#)[^)#]+)(?:#[^)]*)?\)/g)) {
    await t.resolves(access(new URL(target!, root)), String(target))
  }
})
