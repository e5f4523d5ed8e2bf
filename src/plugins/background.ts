// Everything that runs beside the requests, started by name once the app is ready and stopped
// in order when it closes: the export poll and archive-copy workers (pg-boss), their
// reconciler, the retention sweep of archived files, webhook
// delivery, the sweep of turns abandoned by a dead instance, the retention job (pruning), the
// drain of running turns, the end of open SSE streams, the relay of cache changes between instances and the /metrics
// gauges. Registered after the surfaces, so a reader of app.ts sees where it all starts.
import fp from 'fastify-plugin'
import { randomUUID } from 'node:crypto'
import type { FastifyInstance } from 'fastify'
import { EXPORT_ARCHIVE_QUEUE, EXPORT_POLL_QUEUE } from '../domain/exports/index.ts'
import { RETENTION_QUEUE } from '../domain/retention/index.ts'
import type { CacheChange } from '../domain/common/index.ts'
import { registerGauges } from '../domain/tokens/index.ts'
import { closeEventStreams } from '../routes/sse.ts'

/** The pub/sub topic that carries cache changes between instances. */
const CACHE_TOPIC = 'gateway/caches'
const RECONCILE_EVERY_MS = 60_000

declare module 'fastify' {
  interface FastifyInstance {
    /** Lets running turns finish (up to TURN_DRAIN_MS), then ends them as interrupted. Once. */
    drainTurns: () => Promise<void>
  }
}

async function background (fastify: FastifyInstance): Promise<void> {
  const { domain: built, config, log } = fastify

  // the hot path's caches follow what an operator changes through any instance
  const origin = randomUUID()
  built.caches.sendWith((change) => {
    fastify.emitter.emit({ topic: CACHE_TOPIC, origin, change }, (err) => {
      if (err) log.warn({ err }, 'could not send a cache change to the other instances (their caches expire on their own)')
    })
  })
  const onCacheChange = (message: Record<string, unknown>, done: () => void) => {
    if (message.origin !== origin) built.caches.apply(message.change as CacheChange)
    done()
  }
  fastify.emitter.on(CACHE_TOPIC, onCacheChange)
  fastify.addHook('onClose', async () => { fastify.emitter.removeListener(CACHE_TOPIC, onCacheChange) })
  const unregisterGauges = registerGauges(fastify.prisma, {
    mintLimitPerIp: config.MINT_LIMIT_PER_IP,
    onError: (err) => log.warn({ err }, 'could not read the gauges for /metrics')
  })
  fastify.addHook('onClose', async () => unregisterGauges())

  // passes (export re-arm, turn sweep) are awaited by close, so none is cut off by the
  // database going away (and none logs that as a failure)
  const running = new Set<Promise<void>>()
  const inBackground = (work: () => Promise<void>) => {
    const p = work().finally(() => running.delete(p))
    running.add(p)
  }
  const reconcile = () => {
    inBackground(async () => {
      await built.exports.reconcile()
        .then((n) => { if (n > 0) log.info({ exports: n }, 'export polls re-armed') })
        .catch((err: unknown) => log.warn({ err }, 'could not re-arm export polls'))
      await built.exports.reconcileArchive()
        .then((n) => { if (n > 0) log.info({ exports: n }, 'export archive copies re-armed') })
        .catch((err: unknown) => log.warn({ err }, 'could not re-arm export archive copies'))
    })
  }
  // archived files past OUTPUT_RETENTION_DAYS are deleted at start and then every interval
  const sweepOutputs = () => {
    inBackground(async () => {
      await built.exports.sweepArchive()
        .then((n) => { if (n > 0) log.info({ files: n }, 'archived export files past their retention deleted') })
        .catch((err: unknown) => log.warn({ err }, 'could not delete archived export files past their retention'))
    })
  }
  // turns orphaned by an instance that died are closed at start and then as soon as their
  // lease lapses (checked every quarter lease)
  const sweep = () => {
    inBackground(async () => {
      await built.turns.sweepAbandoned()
        .then((n) => { if (n > 0) log.warn({ turns: n }, 'closed turns abandoned by a stopped instance') })
        .catch((err: unknown) => log.warn({ err }, 'could not sweep abandoned turns'))
    })
  }

  // durable work: export polls (pg-boss) and webhook deliveries (the outbox table)
  fastify.addHook('onReady', async () => {
    await fastify.jobs.work(EXPORT_POLL_QUEUE, { batchSize: 50 }, async (data) => {
      const exportId = String(data.exportId)
      const next = await built.exports.poll(exportId)
      if (next !== null) await fastify.jobs.schedule(EXPORT_POLL_QUEUE, { exportId }, { delayMs: next, key: exportId })
    })
    // copies are long (a file of hundreds of MB): a few at a time per instance
    await fastify.jobs.work(EXPORT_ARCHIVE_QUEUE, { batchSize: 4 }, async (data) => {
      const exportId = String(data.exportId)
      const next = await built.exports.copyFile(exportId)
      if (next !== null) await fastify.jobs.schedule(EXPORT_ARCHIVE_QUEUE, { exportId }, { delayMs: next, key: exportId })
    })
    // pruning: a pass on the schedule, run by one instance at a time (the queue's policy)
    await fastify.jobs.work(RETENTION_QUEUE, { batchSize: 1 }, async () => {
      const report = await built.retention.prune()
      const deleted = Object.fromEntries(Object.entries(report.deleted).filter(([, n]) => n > 0))
      if (Object.keys(deleted).length > 0) log.info({ deleted, batches: report.batches, ms: report.ms }, 'retention: pruned old rows')
    })
    await fastify.jobs.every(RETENTION_QUEUE, config.RETENTION_SCHEDULE)
    built.webhookDelivery.start()
    reconcile()
    sweep()
    sweepOutputs()
  })
  const reconciler = setInterval(reconcile, RECONCILE_EVERY_MS)
  reconciler.unref()
  const sweeper = setInterval(sweep, Math.max(100, Math.floor(config.TURN_LEASE_MS / 4)))
  sweeper.unref()
  const outputSweeper = setInterval(sweepOutputs, config.OUTPUT_SWEEP_INTERVAL_MS)
  outputSweeper.unref()

  // closing, in this order: no new deliveries; running turns get a moment to finish (bounded
  // so the rest of the drain fits in SHUTDOWN_TIMEOUT_MS); open SSE streams see how the turns
  // ended and are closed; the passes in hand finish before the database goes away
  fastify.addHook('preClose', async () => { await built.webhookDelivery.stop() })
  const drainMs = Math.max(0, Math.min(config.TURN_DRAIN_MS, config.SHUTDOWN_TIMEOUT_MS - 3000))
  let draining: Promise<void> | undefined
  const drainTurns = async () => { draining ??= built.turns.close(drainMs); await draining }
  fastify.decorate('drainTurns', drainTurns)
  fastify.addHook('preClose', drainTurns)
  closeEventStreams(fastify)
  fastify.addHook('preClose', async () => {
    clearInterval(reconciler)
    clearInterval(sweeper)
    clearInterval(outputSweeper)
    await Promise.allSettled([...running])
  })
}

export default fp(background, { name: 'background', dependencies: ['domain', 'jobs', 'pubsub'] })
