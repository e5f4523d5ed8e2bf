// Traces and metrics for the app. With src/telemetry.ts loaded (npm start does), requests
// get @fastify/otel spans when spans are exported (else a caller's trace context is only
// carried through), and the SDK's Prometheus reader is served at /metrics. Without it
// (tests, embedding), a process-wide meter provider with its own Prometheus reader serves
// /metrics so the gateway's own metrics are always there.
import fp from 'fastify-plugin'
import { monitorEventLoopDelay } from 'node:perf_hooks'
import { context, metrics, propagation, ROOT_CONTEXT, type ObservableResult } from '@opentelemetry/api'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node'
import type { FastifyInstance, FastifyRequest } from 'fastify'
import type { FastifyOtelInstrumentation } from '@fastify/otel'

export interface Telemetry {
  prometheus: PrometheusExporter
  fastifyOtel: FastifyOtelInstrumentation
  /** Whether spans are recorded and exported (an exporter is configured). */
  spans: boolean
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
    const provider = new MeterProvider({ readers: [fallback] })
    metrics.setGlobalMeterProvider(provider)
    // the runtime metrics src/telemetry.ts gives the SDK's provider
    const runtime = new RuntimeNodeInstrumentation()
    runtime.setMeterProvider(provider)
    runtime.enable()
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
  // read at scrape time from plain counters: nothing to record per request
  const inFlight = new Map<string, number>()
  meter.createObservableUpDownCounter('http.server.active_requests', { description: 'HTTP server requests in flight (streams excluded)' })
    .addCallback((result) => { for (const [method, n] of inFlight) result.observe(n, methodAttrs(method)) })
  const route = (request: FastifyRequest) => request.routeOptions.url ?? 'unmatched'
  fastify.decorateRequest(kStart, 0)
  fastify.decorateRequest(kCounted, false)
  // one attributes object per method (and per method, route, status): no allocation per request
  const byMethod = new Map<string, { 'http.request.method': string }>()
  const methodAttrs = (method: string) => {
    let attrs = byMethod.get(method)
    if (attrs === undefined) byMethod.set(method, attrs = { 'http.request.method': method })
    return attrs
  }
  const byOutcome = new Map<string, Record<string, string | number>>()
  const outcomeAttrs = (method: string, route: string, status: number) => {
    const key = `${method} ${status} ${route}`
    let attrs = byOutcome.get(key)
    if (attrs === undefined) byOutcome.set(key, attrs = { 'http.request.method': method, 'http.route': route, 'http.response.status_code': status })
    return attrs
  }
  fastify.addHook('onRequest', (request, _reply, done) => {
    ;(request as unknown as Record<symbol, unknown>)[kStart] = performance.now()
    ;(request as unknown as Record<symbol, unknown>)[kCounted] = true
    inFlight.set(request.method, (inFlight.get(request.method) ?? 0) + 1)
    request.raw.once('close', () => { leaveInFlight(request) })
    done()
  })
  fastify.addHook('onResponse', (request, reply, done) => {
    leaveInFlight(request)
    const started = (request as unknown as Record<symbol, number>)[kStart] ?? performance.now()
    duration.record((performance.now() - started) / 1000, outcomeAttrs(request.method, route(request), reply.statusCode))
    done()
  })
  function leaveInFlight (request: FastifyRequest): void {
    const r = request as unknown as Record<symbol, unknown>
    if (r[kCounted] !== true) return
    r[kCounted] = false
    inFlight.set(request.method, (inFlight.get(request.method) ?? 1) - 1)
  }
  fastify.decorate('leaveInFlight', leaveInFlight)
}

/**
 * `process.memory.usage` (By): the resident set, what the kernel counts against the process
 * (the heap is only part of it: WASM, buffers and native allocations are outside).
 */
function residentMemory (fastify: FastifyInstance): void {
  const gauge = metrics.getMeter('nemo-gateway').createObservableGauge('process.memory.usage', { description: 'Resident memory of the gateway process', unit: 'By' })
  const observe = (result: ObservableResult) => { result.observe(process.memoryUsage.rss()) }
  gauge.addCallback(observe)
  fastify.addHook('onClose', async () => { gauge.removeCallback(observe) })
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

/**
 * Without spans, a caller's W3C trace context is still followed: the request runs in it, so
 * its upstream calls carry the caller's `traceparent` and its log lines the caller's trace id.
 * Free for a request that brings none.
 */
function followCallerTrace (fastify: FastifyInstance): void {
  fastify.addHook('onRequest', (request, _reply, done) => {
    if (request.headers.traceparent === undefined) return done()
    context.with(propagation.extract(ROOT_CONTEXT, request.headers), done)
  })
}

async function telemetryPlugin (fastify: FastifyInstance): Promise<void> {
  const sdk = telemetry()
  if (sdk?.spans === true) await fastify.register(sdk.fastifyOtel.plugin())
  else if (sdk) followCallerTrace(fastify)
  // the reader first: it installs the meter provider the instruments below are made from
  const reader = prometheusReader()
  httpMetrics(fastify)
  eventLoopDelay(fastify)
  residentMemory(fastify)
  fastify.get('/metrics', { schema: { hide: true }, config: { otel: false } }, (request, reply) => {
    reply.hijack()
    reader.getMetricsRequestHandler(request.raw, reply.raw)
  })
}

export default fp(telemetryPlugin, { name: 'telemetry' })
