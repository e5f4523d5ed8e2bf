// Durable jobs on pg-boss, in the gateway's own Postgres (schema `pgboss`): no other server.
// pg-boss 10 is the newest line that runs on Node 20. A queue of the `short` policy keeps at
// most one waiting job per key, so a job chain can never fork: whoever schedules the next
// poll of an export while another is waiting is a no-op. (Not `stately`: it also allows one
// active job per key, and the active job of a killed instance would block its export until
// pg-boss expires it.) Workers are started by the domain
// plugin once the services exist; this plugin only opens and closes the queue.
import fp from 'fastify-plugin'
import PgBoss from 'pg-boss'
import type { FastifyInstance } from 'fastify'
import { EXPORT_ARCHIVE_QUEUE_OPTIONS, EXPORT_POLL_QUEUE_OPTIONS } from '../domain/exports/index.ts'
import { RETENTION_QUEUE_OPTIONS } from '../domain/retention/index.ts'
import type { JobQueue } from '../domain/common/index.ts'

interface Jobs extends JobQueue {
  boss: PgBoss
  /** Starts a worker; `handler` runs for each job of a fetched batch, concurrently. */
  work: (queue: string, opts: { batchSize: number }, handler: (data: Record<string, unknown>) => Promise<void>) => Promise<void>
  /**
   * Sends a job to `queue` on a cron schedule, from whichever instance's clock fires first
   * (pg-boss keeps one job per minute per schedule); `off` removes the schedule.
   */
  every: (queue: string, cron: string) => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    jobs: Jobs
  }
}

// the queues are declared by the contexts that own them
const QUEUES = [EXPORT_POLL_QUEUE_OPTIONS, EXPORT_ARCHIVE_QUEUE_OPTIONS, RETENTION_QUEUE_OPTIONS] as const satisfies PgBoss.Queue[]

async function jobs (fastify: FastifyInstance): Promise<void> {
  const { config, log } = fastify
  // pg-boss hands its options to its pg.Pool (its types do not list these): the same bounds as
  // the app's own pool (plugins/db.ts), so scheduling a job never hangs a request
  const poolBounds = { connectionTimeoutMillis: config.DB_POOL_TIMEOUT_MS, query_timeout: config.DB_QUERY_TIMEOUT_MS }
  const boss = new PgBoss({
    connectionString: fastify.db.url,
    max: 4,
    application_name: 'nemo-gateway-jobs',
    ...poolBounds,
    // completed jobs are history nobody reads: keep a day of them
    deleteAfterHours: 24,
    pollingIntervalSeconds: config.JOBS_POLL_INTERVAL_MS / 1000
  })
  boss.on('error', (err: Error) => log.warn({ err }, 'job queue error'))
  await boss.start()
  for (const q of QUEUES) await boss.createQueue(q.name, q)
  const workers = new Set<string>()

  const queue: Jobs = {
    boss,
    async schedule (name, data, opts) {
      const startAfter = new Date(Date.now() + Math.max(0, opts.delayMs))
      await boss.send(name, data, { singletonKey: opts.key, startAfter })
      // a job due now should not wait for the next fetch of this instance's worker
      if (opts.delayMs <= 0) for (const id of workers) boss.notifyWorker(id)
    },
    async work (name, opts, handler) {
      const id = await boss.work<Record<string, unknown>>(name, { batchSize: opts.batchSize, pollingIntervalSeconds: config.JOBS_POLL_INTERVAL_MS / 1000 }, async (batch) => {
        const results = await Promise.allSettled(batch.map(async (job) => await handler(job.data)))
        for (const r of results) if (r.status === 'rejected') log.warn({ err: r.reason, queue: name }, 'job failed')
      })
      workers.add(id)
    },
    async every (name, cron) {
      if (cron.trim() === 'off') await boss.unschedule(name)
      else await boss.schedule(name, cron.trim())
    }
  }
  fastify.decorate('jobs', queue)
  // before the database closes: jobs in hand are finished first (graceful); what is left
  // waits in Postgres for any instance
  fastify.addHook('preClose', async () => {
    await boss.stop({ graceful: true, wait: true, timeout: 10_000 })
  })
}

export default fp(jobs, { name: 'jobs', dependencies: ['db'] })
