// Spans for the gateway's own units of work (a turn, an export and its polls, a webhook
// delivery), carrying the ids an on-call engineer searches by: tenant, session, turn, export,
// message. Never a token or a key. Started inside a request, a span is that request's child
// (AsyncLocalStorage); started by a job, it begins a trace of its own.
import { SpanStatusCode, trace, type Attributes } from '@opentelemetry/api'

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
