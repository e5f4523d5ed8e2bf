// "Node.js 20.19+ is all you need" (README): every installed package must accept the oldest Node
// the README names, or `npm ci` warns EBADENGINE and the package may not work.
import { test } from 'tap'
import { readFile } from 'node:fs/promises'
import semver from 'semver'

const root = new URL('../../', import.meta.url)

test('every package in the lockfile supports the Node versions the README names', async (t) => {
  const readme = await readFile(new URL('README.md', root), 'utf8')
  const floor = /Node\.js (\d+\.\d+)\+[^.]*? is all you need/.exec(readme)?.[1]
  t.ok(floor, 'the README names a Node floor')
  const pkg = JSON.parse(await readFile(new URL('package.json', root), 'utf8'))
  t.equal(semver.minVersion(pkg.engines.node)?.version, `${floor}.0`, 'package.json engines agree with the README')

  const lock = JSON.parse(await readFile(new URL('package-lock.json', root), 'utf8'))
  const unsupported: string[] = []
  for (const [path, entry] of Object.entries<{ version?: string, engines?: { node?: string } | string[] }>(lock.packages)) {
    const range = Array.isArray(entry.engines) ? undefined : entry.engines?.node
    if (path === '' || range === undefined) continue
    for (const node of new Set([`${floor}.0`, process.versions.node])) {
      if (!semver.satisfies(node, range)) unsupported.push(`${path}@${entry.version} wants node ${range} (not ${node})`)
    }
  }
  t.same(unsupported, [], 'no EBADENGINE on the supported Node versions')
})
