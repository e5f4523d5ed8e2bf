// Spans for the gateway's own units of work (a turn, an export and its polls, a webhook
// delivery), carrying the ids an on-call engineer searches by: tenant, session, turn, export,
// message. Never a token or a key. Started inside a request, a span is that request's child
// (AsyncLocalStorage); started by a job, it begins a trace of its own, linked (a span link) to
// the request that caused the work: the export's POST, whose trace context the export row and
// its webhook messages keep as a W3C traceparent.
import { isSpanContextValid, SpanStatusCode, trace, TraceFlags, type Attributes } from '@opentelemetry/api'

const tracer = () => trace.getTracer('nemo-gateway')

/** Runs `fn` in a span named `name`; errors are recorded on it and rethrown. */
export async function inSpan<T> (name: string, attributes: Attributes, fn: () => Promise<T>): Promise<T> {
  return await tracer().startActiveSpan(name, { attributes }, async (span) => {
    try {
      return await fn()
    } catch (err) {
      span.recordException(err as Error)
      span.setStatus({ code: SpanStatusCode.ERROR, message: (err as Error).message })
      throw err
    } finally {
      span.end()
    }
  })
}

/** Adds ids learnt inside the span (e.g. the tenant of an export read by a job). */
export function annotateSpan (attributes: Attributes): void {
  trace.getActiveSpan()?.setAttributes(attributes)
}

/**
 * The active span's context as a W3C traceparent, to store with work that outlives the
 * request (an export, its webhook messages); null when there is none (no SDK, no caller trace).
 */
export function currentTraceparent (): string | null {
  const ctx = trace.getActiveSpan()?.spanContext()
  if (ctx === undefined || !isSpanContextValid(ctx)) return null
  return `00-${ctx.traceId}-${ctx.spanId}-0${ctx.traceFlags & TraceFlags.SAMPLED}`
}

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/

/** Links the active span to the one a stored traceparent names (the request that started the work). */
export function linkSpan (traceparent: string | null | undefined): void {
  const m = traceparent == null ? null : TRACEPARENT.exec(traceparent)
  const span = trace.getActiveSpan()
  if (m === null || span === undefined || !span.isRecording()) return
  const context = { traceId: m[1]!, spanId: m[2]!, traceFlags: parseInt(m[3]!, 16) & TraceFlags.SAMPLED, isRemote: true }
  if (isSpanContextValid(context)) span.addLink({ context, attributes: { 'nemo.link': 'started by' } })
}
