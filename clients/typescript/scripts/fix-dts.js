// tsc rewrites `./x.ts` imports to `./x.js` in the emitted JavaScript but not in the .d.ts
// files; do the same there so consumers without allowImportingTsExtensions resolve them.
import { readdirSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'

const dir = process.argv[2] ?? 'dist'
for (const f of readdirSync(dir).filter(f => f.endsWith('.d.ts'))) {
  const file = join(dir, f)
  writeFileSync(file, readFileSync(file, 'utf8').replace(/(from '\.\/[\w-]+)\.ts'/g, "$1.js'"))
}
