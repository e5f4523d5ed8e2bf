// OpenTelemetry for the process, loaded before the app (`node --import ./src/telemetry.ts`)
// so undici is instrumented from its first request. Metrics are read by a Prometheus reader
// that the app serves at /metrics; traces go to OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// (or ..._TRACES_ENDPOINT) is set, the standard OTel variables that the SDK reads itself.
import { readFileSync } from 'node:fs'
import { NodeSDK, resources } from '@opentelemetry/sdk-node'
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus'
import { UndiciInstrumentation } from '@opentelemetry/instrumentation-undici'
import { FastifyOtelInstrumentation } from '@fastify/otel'
import { PrismaInstrumentation } from '@prisma/instrumentation'
import { RuntimeNodeInstrumentation } from '@opentelemetry/instrumentation-runtime-node'

import { loadConfig } from './config.ts'
import { TELEMETRY_KEY, type Telemetry } from './plugins/telemetry.ts'

/** The two settings of the config read here; a config that does not load is reported by the server. */
function settings (): { environment: string, detailed: boolean } {
  try {
    const config = loadConfig()
    return { environment: config.DEPLOYMENT_ENVIRONMENT, detailed: config.OTEL_DETAILED_SPANS }
  } catch {
    return { environment: 'production', detailed: false }
  }
}

function packageVersion (): string {
  try {
    return (JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')) as { version: string }).version
  } catch {
    return 'unknown'
  }
}

// the OTLP exporter is loaded only when traces are sent somewhere (it costs ~60 ms of start)
async function start (): Promise<Telemetry> {
  const { environment, detailed } = settings()
  const prometheus = new PrometheusExporter({ preventServerStart: true })
  // Off by default: a span per hook (auth, rate limit, idempotency, metrics...) and per
  // handler made a cached read cost 6 spans, and most of its CPU (bench/README.md, "Traces").
  const fastifyOtel = new FastifyOtelInstrumentation({
    ignorePaths: (opts: { url: string }) => opts.url.startsWith('/health/') || opts.url === '/metrics',
    instrumentHooks: detailed,
    instrumentHandler: detailed
  })
  const env = process.env
  // an empty value (docker-compose's `${VAR:-}`) means unset
  const set = (name: string) => (env[name] ?? '') !== ''
  const otlp = set('OTEL_EXPORTER_OTLP_ENDPOINT') || set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  // Spans are made only when they go somewhere: an OTLP endpoint, or an exporter named in
  // OTEL_TRACES_EXPORTER (the SDK's own choice). Left alone, the SDK would record every span
  // and post it to localhost:4318 where nothing listens: a third of a cached read's CPU.
  // Without spans, a caller's traceparent still reaches the upstream and the log lines.
  const spans = otlp
    ? { traceExporter: new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter() }
    : set('OTEL_TRACES_EXPORTER')
      ? {}
      : { spanProcessors: [] }
  const sdk = new NodeSDK({
    serviceName: env.OTEL_SERVICE_NAME ?? 'nemo-gateway',
    // merged with what the SDK detects (host, process) and OTEL_RESOURCE_ATTRIBUTES, which wins
    resource: resources.defaultResource().merge(resources.resourceFromAttributes({
      'service.version': packageVersion(),
      'deployment.environment.name': environment
    })),
    metricReaders: [prometheus],
    ...spans,
    // undici: outgoing calls to the upstream carry the W3C traceparent; Prisma: every query a
    // child span (its operation, serialize, compile, connection and transaction spans only
    // with OTEL_DETAILED_SPANS). The sampler comes from OTEL_TRACES_SAMPLER /
    // OTEL_TRACES_SAMPLER_ARG (the SDK reads them; e.g. parentbased_traceidratio with 0.1).
    // runtime: heap used and total, event loop utilization, GC time (v8js_*, nodejs_* on /metrics)
    instrumentations: [
      new UndiciInstrumentation(),
      fastifyOtel,
      new PrismaInstrumentation(detailed ? {} : { ignoreSpanTypes: [/^prisma:client:(?!db_query$)/, /^prisma:engine:/] }),
      new RuntimeNodeInstrumentation()
    ]
  })
  sdk.start()
  return { prometheus, fastifyOtel, spans: !('spanProcessors' in spans), shutdown: async () => await sdk.shutdown() }
}

const g = globalThis as Record<symbol, Telemetry | undefined>
g[TELEMETRY_KEY] ??= await start()
