// What the upstream costs and how it answers, per endpoint: `gateway.upstream.request.duration`
// (s) by `endpoint` and `outcome` (the body code: 0, 1001, 1002, 2001, ...; or 429, 4xx, 5xx,
// timeout, unavailable, stream_broken, bad_response), the time to the first /run_sse event, and
// the upstream streams open now. Instruments are made on first use, after the app installed
// its meter provider.
import { metrics, type Histogram, type UpDownCounter } from '@opentelemetry/api'
import { NemoError } from './errors.ts'

interface UpstreamInstruments {
  duration: Histogram
  firstEvent: Histogram
  openStreams: UpDownCounter
}

let instruments: UpstreamInstruments | undefined

function upstream (): UpstreamInstruments {
  if (instruments !== undefined) return instruments
  const meter = metrics.getMeter('nemo-gateway')
  instruments = {
    duration: meter.createHistogram('gateway.upstream.request.duration', {
      description: 'Nemo API calls, by endpoint and outcome (for /run_sse: the whole stream)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900] }
    }),
    firstEvent: meter.createHistogram('gateway.upstream.sse.first_event', {
      description: 'Time from the /run_sse request to its first event',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30] }
    }),
    openStreams: meter.createUpDownCounter('gateway.upstream.open_streams', { description: 'Upstream /run_sse streams open now' })
  }
  instruments.openStreams.add(0)
  return instruments
}

const ENDPOINTS: Array<[RegExp, string]> = [
  [/\/api\/auth\/anonymous-token$/, 'mint'],
  [/\/api\/auth\/claim-token$/, 'claim_token'],
  [/\/api\/tasks\/me\/with-session\//, 'create_session'],
  [/\/run_sse$/, 'run_sse'],
  [/\/api\/upload-video\//, 'upload'],
  [/\/api\/credits\//, 'credits'],
  [/\/api\/state\//, 'state'],
  [/\/api\/render\/proxy\/lambda\/[^/]+\/cancel$/, 'render_cancel'],
  [/\/api\/render\/proxy\/lambda\/[^/]+$/, 'render_poll'],
  [/\/api\/render\/proxy\/lambda$/, 'render_submit'],
  [/\/api\/render\/proxy\/[^/]+\/download$/, 'render_download']
]

/** The endpoint's name, from the request path (never the path itself: it holds ids). */
export function endpointOf (path: string): string {
  const bare = path.split('?')[0] ?? path
  for (const [pattern, name] of ENDPOINTS) if (pattern.test(bare)) return name
  return 'other'
}

/** The outcome label of a failed call. */
export function outcomeOf (err: unknown): string {
  if (!(err instanceof NemoError)) return 'error'
  // a server error or a rate limit is told by its status, whatever envelope came with it
  if (err.httpStatus !== undefined && err.httpStatus >= 500) return '5xx'
  if (err.httpStatus === 429) return '429'
  if (err.upstreamCode !== undefined) return String(err.upstreamCode)
  if (err.httpStatus !== undefined) return `${Math.floor(err.httpStatus / 100)}xx`
  return err.kind
}

export function recordUpstreamCall (endpoint: string, outcome: string, startedAt: number): void {
  upstream().duration.record((performance.now() - startedAt) / 1000, { endpoint, outcome })
}

export function recordFirstEvent (startedAt: number): void {
  upstream().firstEvent.record((performance.now() - startedAt) / 1000)
}

export function upstreamStreamOpened (): () => void {
  upstream().openStreams.add(1)
  let open = true
  return () => {
    if (open) upstream().openStreams.add(-1)
    open = false
  }
}
