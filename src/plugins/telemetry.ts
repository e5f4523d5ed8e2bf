// Traces and metrics for the app. With src/telemetry.ts loaded (npm start does), requests
// get @fastify/otel spans and the SDK's Prometheus reader is served at /metrics. Without it
// (tests, embedding), a process-wide meter provider with its own Prometheus reader serves
// /metrics so the gateway's own metrics are always there.
import fp from 'fastify-plugin'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { metrics, type ObservableResult } from '@opentelemetry/api'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FastifyOtelInstrumentation } from '@fastify/otel'

export interface Telemetry {
  prometheus: PrometheusExporter
  fastifyOtel: FastifyOtelInstrumentation
  shutdown: () => Promise<void>
}

declare module 'fastify' {
  interface FastifyInstance {
    /** A request that turned into a stream (SSE) is no longer "in flight". */
    leaveInFlight: (request: FastifyRequest) => void
  }
}

/** Where src/telemetry.ts leaves the process's SDK when it was loaded (node --import). */
export const TELEMETRY_KEY = Symbol.for('nemo-gateway.telemetry')

function telemetry (): Telemetry | undefined {
  return (globalThis as Record<symbol, Telemetry | undefined>)[TELEMETRY_KEY]
}

/** Sends what the SDK still holds (spans, metrics) before the process exits. */
export async function flushTelemetry (timeoutMs = 2000): Promise<void> {
  const sdk = telemetry()
  if (sdk === undefined) return
  await Promise.race([sdk.shutdown().catch(() => {}), new Promise((resolve) => setTimeout(resolve, timeoutMs).unref())])
}

let fallback: PrometheusExporter | undefined

function prometheusReader (): PrometheusExporter {
  const sdk = telemetry()
  if (sdk) return sdk.prometheus
  if (!fallback) {
    fallback = new PrometheusExporter({ preventServerStart: true })
    metrics.setGlobalMeterProvider(new MeterProvider({ readers: [fallback] }))
  }
  return fallback
}

const kStart = Symbol('request start')
const kCounted = Symbol('counted in flight')

/**
 * RED metrics of the HTTP server, after the OpenTelemetry semantic conventions:
 * `http.server.request.duration` (s) by method, route template (never the raw URL) and status,
 * and `http.server.active_requests`. SSE responses and GraphQL subscriptions are not requests
 * that end: they leave the request count when they start streaming and are counted as open
 * streams (`gateway.sse.open_streams`, `gateway.graphql.open_subscriptions`).
 */
function httpMetrics (fastify: FastifyInstance): void {
  const meter = metrics.getMeter('nemo-gateway')
  const duration = meter.createHistogram('http.server.request.duration', {
    description: 'Duration of HTTP server requests',
    unit: 's',
    advice: { explicitBucketBoundaries: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] }
  })
  const active = meter.createUpDownCounter('http.server.active_requests', { description: 'HTTP server requests in flight (streams excluded)' })
  const route = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched'
  fastify.decorateRequest(kStart, 0)
  fastify.decorateRequest(kCounted, false)
  fastify.addHook('onRequest', async (request) => {
    ;(request as unknown as Record<symbol, unknown>)[kStart] = performance.now()
    ;(request as unknown as Record<symbol, unknown>)[kCounted] = true
    active.add(1, { 'http.request.method': request.method })
    request.raw.once('close', () => { leaveInFlight(request) })
  })
  fastify.addHook('onResponse', async (request, reply) => {
    leaveInFlight(request)
    const started = (request as unknown as Record<symbol, number>)[kStart] ?? performance.now()
    duration.record((performance.now() - started) / 1000, {
      'http.request.method': request.method,
      'http.route': route(request),
      'http.response.status_code': reply.statusCode
    })
  })
  function leaveInFlight (request: FastifyRequest): void {
    const r = request as unknown as Record<symbol, unknown>
    if (r[kCounted] !== true) return
    r[kCounted] = false
    active.add(-1, { 'http.request.method': request.method })
  }
  fastify.decorate('leaveInFlight', leaveInFlight)
}

/** `gateway.event_loop.delay.p99` (s): what the event loop lagged since the last scrape. */
function eventLoopDelay (fastify: FastifyInstance): void {
  const histogram = monitorEventLoopDelay({ resolution: 20 })
  histogram.enable()
  const gauge = metrics.getMeter('nemo-gateway').createObservableGauge('gateway.event_loop.delay.p99', { description: 'Event loop delay, 99th percentile since the last scrape', unit: 's' })
  const observe = (result: ObservableResult) => {
    result.observe(histogram.percentile(99) / 1e9)
    histogram.reset()
  }
  gauge.addCallback(observe)
  fastify.addHook('onClose', async () => {
    gauge.removeCallback(observe)
    histogram.disable()
  })
}

async function telemetryPlugin (fastify: FastifyInstance): Promise<void> {
  const sdk = telemetry()
  if (sdk) await fastify.register(sdk.fastifyOtel.plugin())
  // the reader first: it installs the meter provider the instruments below are made from
  const reader = prometheusReader()
  httpMetrics(fastify)
  eventLoopDelay(fastify)
  fastify.get('/metrics', { schema: { hide: true }, config: { otel: false } }, (request, reply) => {
    reply.hijack()
    reader.getMetricsRequestHandler(request.raw, reply.raw)
  })
}

export default fp(telemetryPlugin, { name: 'telemetry' })
