/** The subset of a pino logger the database layer uses, so it runs with or without Fastify. */
export interface Log {
  info: (msg: string) => void
  warn: (msg: string) => void
  debug: (msg: string) => void
}

export const silentLog: Log = { info () {}, warn () {}, debug () {} }

/** For the CLIs: pino's level names, on stderr, so stdout carries only the result. */
export function consoleLog (level: string): Log {
  const rank = ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].indexOf(level)
  const at = (min: number) => rank !== -1 && rank <= min
  return {
    debug: (msg) => { if (at(1)) console.error(msg) },
    info: (msg) => { if (at(2)) console.error(msg) },
    warn: (msg) => { if (at(3)) console.error(`warning: ${msg}`) }
  }
}
