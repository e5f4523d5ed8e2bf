/** The subset of a pino logger the database layer uses, so it runs with or without Fastify. */
export interface Log {
  info: (msg: string) => void
  warn: (msg: string) => void
  debug: (msg: string) => void
}

export const silentLog: Log = { info () {}, warn () {}, debug () {} }
