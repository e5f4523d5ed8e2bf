// The business services, built once from the app's infrastructure and shared by REST,
// GraphQL and the CLI alike.
import fp from 'fastify-plugin'
import { registerGauges } from '../domain/tokens/index.ts'
import type { FastifyInstance } from 'fastify'
import { buildDomain, type Domain } from '../domain/index.ts'
import { EXPORT_POLL_QUEUE } from '../domain/exports/index.ts'
import { publicBaseUrl } from '../config.ts'
import { randomUUID } from 'node:crypto'
import type { CacheChange } from '../domain/shared/index.ts'

/** The pub/sub topic that carries cache changes between instances. */
const CACHE_TOPIC = 'gateway/caches'

declare module 'fastify' {
  interface FastifyInstance {
    domain: Domain
  }
}

async function domain (fastify: FastifyInstance): Promise<void> {
  // PORT=0 picks a port at listen: links name the real one from then on
  let baseUrl = publicBaseUrl(fastify.config)
  fastify.addHook('onListen', async () => {
    const address = fastify.server.address()
    if (typeof address === 'object' && address) baseUrl = publicBaseUrl(fastify.config, address.port)
  })
  const built = buildDomain({
    prisma: fastify.prisma,
    sql: fastify.sql,
    nemo: fastify.nemo,
    config: fastify.config,
    encryptionKey: fastify.encryptionKey,
    log: fastify.log.child({ component: 'domain' }),
    bus: fastify.eventBus,
    jobs: fastify.jobs,
    publicBaseUrl: () => baseUrl
  })
  fastify.decorate('domain', built)
  // the hot path's caches follow what an operator changes through any instance
  const origin = randomUUID()
  built.caches.sendWith((change) => {
    fastify.emitter.emit({ topic: CACHE_TOPIC, origin, change }, (err) => {
      if (err) fastify.log.warn({ err }, 'could not send a cache change to the other instances (their caches expire on their own)')
    })
  })
  const onCacheChange = (message: Record<string, unknown>, done: () => void) => {
    if (message.origin !== origin) built.caches.apply(message.change as CacheChange)
    done()
  }
  fastify.emitter.on(CACHE_TOPIC, onCacheChange)
  fastify.addHook('onClose', async () => { fastify.emitter.removeListener(CACHE_TOPIC, onCacheChange) })
  const unregisterGauges = registerGauges(fastify.prisma, {
    mintLimitPerIp: fastify.config.MINT_LIMIT_PER_IP,
    onError: (err) => fastify.log.warn({ err }, 'could not read the gauges for /metrics')
  })
  fastify.addHook('onClose', async () => unregisterGauges())
  // durable work: export polls (pg-boss) and webhook deliveries (the outbox table)
  fastify.addHook('onReady', async () => {
    await fastify.jobs.work(EXPORT_POLL_QUEUE, { batchSize: 50 }, async (data) => {
      const exportId = String(data.exportId)
      const next = await built.exports.poll(exportId)
      if (next !== null) await fastify.jobs.schedule(EXPORT_POLL_QUEUE, { exportId }, { delayMs: next, key: exportId })
    })
    built.webhookDelivery.start()
    reconcile()
  })
  fastify.addHook('preClose', async () => { await built.webhookDelivery.stop() })
  // background passes (export re-arm, turn sweep) are awaited by close, so none is cut off by
  // the database going away (and none logs that as a failure)
  const running = new Set<Promise<void>>()
  const inBackground = (work: () => Promise<void>) => {
    const p = work().finally(() => running.delete(p))
    running.add(p)
  }
  const reconcile = () => {
    inBackground(async () => {
      await built.exports.reconcile()
        .then((n) => { if (n > 0) fastify.log.info({ exports: n }, 'export polls re-armed') })
        .catch((err: unknown) => fastify.log.warn({ err }, 'could not re-arm export polls'))
    })
  }
  const reconciler = setInterval(reconcile, 60_000)
  reconciler.unref()
  // running chat turns get a moment to finish before the database goes away
  // (bounded so the rest of the drain fits in SHUTDOWN_TIMEOUT_MS)
  const drainMs = Math.max(0, Math.min(fastify.config.TURN_DRAIN_MS, fastify.config.SHUTDOWN_TIMEOUT_MS - 3000))
  let draining: Promise<void> | undefined
  const drainTurns = async () => { draining ??= built.turns.close(drainMs); await draining }
  fastify.decorate('drainTurns', drainTurns)
  fastify.addHook('preClose', drainTurns)
  // turns orphaned by an instance that died are closed at start and then as soon as their
  // lease lapses (checked every quarter lease)
  const sweep = () => {
    inBackground(async () => {
      await built.turns.sweepAbandoned()
        .then((n) => { if (n > 0) fastify.log.warn({ turns: n }, 'closed turns abandoned by a stopped instance') })
        .catch((err: unknown) => fastify.log.warn({ err }, 'could not sweep abandoned turns'))
    })
  }
  fastify.addHook('onReady', async () => { sweep() })
  const timer = setInterval(sweep, Math.max(100, Math.floor(fastify.config.TURN_LEASE_MS / 4)))
  timer.unref()
  fastify.addHook('preClose', async () => {
    clearInterval(reconciler)
    clearInterval(timer)
    await Promise.allSettled([...running])
  })
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Lets running turns finish (up to TURN_DRAIN_MS), then ends them as interrupted. Once. */
    drainTurns: () => Promise<void>
  }
}

export default fp(domain, { name: 'domain', dependencies: ['db', 'nemo', 'pubsub', 'jobs'] })
