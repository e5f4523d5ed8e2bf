// OpenTelemetry for the process, loaded before the app (`node --import ./src/telemetry.ts`)
// so undici is instrumented from its first request. Metrics are read by a Prometheus reader
// that the app serves at /metrics; traces go to OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT
// (or ..._TRACES_ENDPOINT) is set, the standard OTel variables that the SDK reads itself.
//
// Without spans (no exporter: the default), the process needs only a meter provider, the
// context manager and the W3C propagator, set up here from their own packages. The NodeSDK
// that does it all from the environment loads every exporter (OTLP over HTTP, protobuf and
// gRPC, Zipkin), the logs SDK (and starts an OTLP log exporter nothing here would feed) and its
// declarative-configuration validator: ~5 MiB of heap. It is loaded only when spans are
// exported, or when a setting only it implements is set (`SDK_SETTINGS`).
import { readFileSync } from 'node:fs'
import { context, metrics, propagation } from '@opentelemetry/api'
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks'
import { CompositePropagator, W3CBaggagePropagator, W3CTraceContextPropagator } from '@opentelemetry/core'
import { registerInstrumentations, type Instrumentation } from '@opentelemetry/instrumentation'
import { defaultResource, detectResources, envDetector, hostDetector, processDetector, resourceFromAttributes, type Resource } from '@opentelemetry/resources'
import { MeterProvider } from '@opentelemetry/sdk-metrics'
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

/**
 * The standard variables the NodeSDK reads and the lean setup below does not: any of them set,
 * and the NodeSDK sets the process up, as it always did.
 */
const SDK_SETTINGS = ['OTEL_SDK_DISABLED', 'OTEL_PROPAGATORS', 'OTEL_NODE_RESOURCE_DETECTORS', 'OTEL_LOG_LEVEL', 'OTEL_LOGS_EXPORTER', 'OTEL_NODE_EXPERIMENTAL_SDK_METRICS'] as const

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
  // undici: outgoing calls to the upstream carry the W3C traceparent; Prisma: every query a
  // child span (its operation, serialize, compile, connection and transaction spans only
  // with OTEL_DETAILED_SPANS). runtime: heap used and total, event loop utilization, GC time
  // (v8js_*, nodejs_* on /metrics)
  const instrumentations = [
    new UndiciInstrumentation(),
    fastifyOtel,
    new PrismaInstrumentation(detailed ? {} : { ignoreSpanTypes: [/^prisma:client:(?!db_query$)/, /^prisma:engine:/] }),
    new RuntimeNodeInstrumentation()
  ]
  const env = process.env
  // an empty value (docker-compose's `${VAR:-}`) means unset
  const set = (name: string) => (env[name] ?? '') !== ''
  const otlp = set('OTEL_EXPORTER_OTLP_ENDPOINT') || set('OTEL_EXPORTER_OTLP_TRACES_ENDPOINT')
  const serviceName = env.OTEL_SERVICE_NAME ?? 'nemo-gateway'
  // merged with what the SDK detects (host, process) and OTEL_RESOURCE_ATTRIBUTES, which wins
  const resource = defaultResource().merge(resourceFromAttributes({
    'service.version': packageVersion(),
    'deployment.environment.name': environment
  }))
  // Spans are made only when they go somewhere: an OTLP endpoint, or an exporter named in
  // OTEL_TRACES_EXPORTER (the SDK's own choice). Left alone, the SDK would record every span
  // and post it to localhost:4318 where nothing listens: a third of a cached read's CPU.
  // Without spans, a caller's traceparent still reaches the upstream and the log lines.
  if (otlp || set('OTEL_TRACES_EXPORTER') || SDK_SETTINGS.some(set)) {
    return await startSdk({ prometheus, fastifyOtel, instrumentations, resource, serviceName, otlp })
  }
  const contextManager = new AsyncLocalStorageContextManager().enable()
  context.setGlobalContextManager(contextManager)
  propagation.setGlobalPropagator(new CompositePropagator({ propagators: [new W3CTraceContextPropagator(), new W3CBaggagePropagator()] }))
  const meterProvider = new MeterProvider({
    resource: resource
      .merge(detectResources({ detectors: [envDetector, processDetector, hostDetector] }))
      .merge(resourceFromAttributes({ 'service.name': serviceName })),
    readers: [prometheus]
  })
  metrics.setGlobalMeterProvider(meterProvider)
  // the instruments of each instrumentation are made on this provider
  registerInstrumentations({ instrumentations, meterProvider })
  return { prometheus, fastifyOtel, spans: false, shutdown: async () => await meterProvider.shutdown() }
}

interface SdkParts {
  prometheus: PrometheusExporter
  fastifyOtel: FastifyOtelInstrumentation
  instrumentations: Instrumentation[]
  resource: Resource
  serviceName: string
  otlp: boolean
}

/** The NodeSDK, configured from the environment (its sampler, propagators, exporters...). */
async function startSdk ({ prometheus, fastifyOtel, instrumentations, resource, serviceName, otlp }: SdkParts): Promise<Telemetry> {
  const { NodeSDK } = await import('@opentelemetry/sdk-node')
  const spans = otlp
    ? { traceExporter: new (await import('@opentelemetry/exporter-trace-otlp-http')).OTLPTraceExporter() }
    : (process.env.OTEL_TRACES_EXPORTER ?? '') !== ''
        ? {}
        : { spanProcessors: [] }
  // The sampler comes from OTEL_TRACES_SAMPLER / OTEL_TRACES_SAMPLER_ARG (the SDK reads them;
  // e.g. parentbased_traceidratio with 0.1).
  const sdk = new NodeSDK({ serviceName, resource, metricReaders: [prometheus], ...spans, instrumentations })
  sdk.start()
  return { prometheus, fastifyOtel, spans: !('spanProcessors' in spans), shutdown: async () => await sdk.shutdown() }
}

const g = globalThis as Record<symbol, Telemetry | undefined>
g[TELEMETRY_KEY] ??= await start()
