// A console logger for the database CLIs with the same Log shape the gateway's pino gives.
import type { Config } from '../config.ts'
import type { Log } from '../db/log.ts'

export function cliLog (level: Config['LOG_LEVEL']): Log {
  const debug = level === 'debug' || level === 'trace'
  const quiet = level === 'silent' || level === 'fatal' || level === 'error'
  return {
    info: (msg) => { if (!quiet && level !== 'warn') console.error(msg) },
    warn: (msg) => { if (!quiet) console.error(`warning: ${msg}`) },
    debug: (msg) => { if (debug) console.error(msg) }
  }
}
