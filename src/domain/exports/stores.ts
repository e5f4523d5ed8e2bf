// The output store OUTPUT_STORAGE names: a folder (local-store.ts), an S3-compatible bucket
// (s3-store.ts), or none.
import { join } from 'node:path'
import type { Config } from '../../config.ts'
import { LocalStore } from './local-store.ts'
import type { OutputStore } from './output-store.ts'

/** The store OUTPUT_STORAGE names, or null when archiving is off. */
export function createOutputStore (config: Config): OutputStore | null {
  if (config.OUTPUT_STORAGE === 'off') return null
  if (config.OUTPUT_STORAGE === 'local') return new LocalStore(config.OUTPUT_DIR ?? join(config.DATA_DIR, 'outputs'))
  // the AWS SDK is large and warns about Node 20 when loaded: loaded at the first use, so a
  // deployment that does not store in S3 never loads it
  let loading: Promise<OutputStore> | undefined
  const s3 = async (): Promise<OutputStore> => {
    loading ??= import('./s3-store.ts').then(({ S3Store }) => new S3Store(config))
    return await loading
  }
  return {
    kind: 's3',
    put: async (key, source, opts) => await (await s3()).put(key, source, opts),
    open: async (key, range) => await (await s3()).open(key, range),
    stat: async (key) => await (await s3()).stat(key),
    remove: async (key) => { await (await s3()).remove(key) }
  }
}
