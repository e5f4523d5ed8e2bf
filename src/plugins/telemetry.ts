// Traces and metrics for the app. With src/telemetry.ts loaded (npm start does), requests
// get @fastify/otel spans and the SDK's Prometheus reader is served at /metrics. Without it
// (tests, embedding), a process-wide meter provider with its own Prometheus reader serves
// /metrics so the gateway's own metrics are always there.
import fp from 'fastify-plugin'
import { metrics } from '@opentelemetry/api'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import type { FastifyInstance } from 'fastify'
import type { FastifyOtelInstrumentation } from '@fastify/otel'

export interface Telemetry {
  prometheus: PrometheusExporter
  fastifyOtel: FastifyOtelInstrumentation
  shutdown: () => Promise<void>
}

/** Where src/telemetry.ts leaves the process's SDK when it was loaded (node --import). */
export const TELEMETRY_KEY = Symbol.for('nemo-gateway.telemetry')

function telemetry (): Telemetry | undefined {
  return (globalThis as Record<symbol, Telemetry | undefined>)[TELEMETRY_KEY]
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

async function telemetryPlugin (fastify: FastifyInstance): Promise<void> {
  const sdk = telemetry()
  if (sdk) await fastify.register(sdk.fastifyOtel.plugin())
  const reader = prometheusReader()
  fastify.get('/metrics', { schema: { hide: true }, config: { otel: false } }, (request, reply) => {
    reply.hijack()
    reader.getMetricsRequestHandler(request.raw, reply.raw)
  })
}

export default fp(telemetryPlugin, { name: 'telemetry' })
