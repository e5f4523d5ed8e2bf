// `npm run admin -- backup <file>` and `restore <file> [--force] [--ignore-key-mismatch]`: the
// logical backup of src/db/backup.ts, on DATABASE_URL or the embedded database. A backup may be
// taken while the gateway runs (one snapshot); a restore needs every gateway stopped.
import { readFile, stat } from 'node:fs/promises'
import type { Config } from '../config.ts'
import { runningEmbeddedUrl } from '../db/attach.ts'
import { backupDatabase, restoreDatabase, type BackupManifest } from '../db/backup.ts'
import { keyId } from '../db/crypto.ts'
import { findEncryptionKey } from '../db/encryption-key.ts'
import type { Log } from '../db/log.ts'
import { gwError } from '../errors.ts'
import { withCliDatabase } from './database.ts'

export interface BackupFlags {
  force: boolean
  ignoreKeyMismatch: boolean
}

async function gatewayVersion (): Promise<string> {
  // src/cli and dist/cli both sit two floors below package.json
  const text = await readFile(new URL('../../package.json', import.meta.url), 'utf8').catch(() => '{}')
  return String((JSON.parse(text) as { version?: string }).version ?? 'unknown')
}

function summary (file: string, bytes: number, started: number, manifest: BackupManifest) {
  return {
    file,
    bytes,
    ms: Math.round(performance.now() - started),
    createdAt: manifest.createdAt,
    gatewayVersion: manifest.gatewayVersion,
    migration: manifest.migrations.at(-1)?.name ?? null,
    rows: manifest.rows
  }
}

export async function backupCommand (config: Config, command: 'backup' | 'restore', file: string | undefined, flags: BackupFlags, log: Log): Promise<object> {
  if (file === undefined || file === '') throw gwError('GW_ERR_VALIDATION', `missing <file>: npm run admin -- ${command} <file>`)
  const key = await findEncryptionKey({ configured: config.ENCRYPTION_KEY, dataDir: config.DATA_DIR })
  const started = performance.now()
  if (command === 'backup') {
    if (await stat(file).then(() => true, () => false)) throw gwError('GW_ERR_CONFLICT', `${file} exists: a backup never overwrites a file`)
    return await withCliDatabase(config, log, async (url) => {
      const manifest = await backupDatabase(url, file, { gatewayVersion: await gatewayVersion(), encryptionKeyId: key === undefined ? 'none' : keyId(key), log })
      return summary(file, (await stat(file)).size, started, manifest)
    })
  }
  if (key === undefined && !flags.ignoreKeyMismatch) {
    throw gwError('GW_ERR_VALIDATION', 'no encryption key: set ENCRYPTION_KEY to the key of the gateway that made the backup, or copy its encryption.key into DATA_DIR, then restore (the key is not in the backup)')
  }
  if (config.DATABASE_URL === undefined && await runningEmbeddedUrl(config.DATA_DIR) !== null) {
    throw gwError('GW_ERR_CONFLICT', `a gateway is running on ${config.DATA_DIR}: stop it before restoring`)
  }
  return await withCliDatabase(config, log, async (url) => {
    const manifest = await restoreDatabase(url, file, {
      force: flags.force,
      ignoreKeyMismatch: flags.ignoreKeyMismatch,
      encryptionKeyId: key === undefined ? 'none' : keyId(key),
      log
    })
    return summary(file, (await stat(file)).size, started, manifest)
  })
}
