// The gateway's own metrics (OpenTelemetry API; exported at /metrics). Built when the domain
// is, after the app has installed a meter provider.
import { metrics, type Counter, type Histogram, type ObservableGauge, type UpDownCounter } from '@opentelemetry/api'

export interface DomainMetrics {
  turns: Counter
  turnSeconds: Histogram
  mints: Counter
  credentialFailures: Counter
  sessionEvents: Counter
  exports: Counter
  renderPolls: Counter
  webhookAttempts: Counter
  webhookLatency: Histogram
  eventAppendSeconds: Histogram
  sseStreams: UpDownCounter
  graphqlSubscriptions: UpDownCounter
  graphqlExecutions: UpDownCounter
  graphqlFanOut: Histogram
  graphqlConnections: UpDownCounter
  graphqlRefusals: Counter
  retentionDeleted: Counter
  turnRefusals: Counter
  /** Read at scrape time: each Turns service adds a callback for its own counts. */
  turnsInFlight: ObservableGauge
}

let cached: DomainMetrics | undefined

export function domainMetrics (): DomainMetrics {
  if (cached) return cached
  const meter = metrics.getMeter('nemo-gateway')
  cached = {
    turns: meter.createCounter('gateway_turns', { description: 'Chat turns finished, by status' }),
    turnSeconds: meter.createHistogram('gateway_turn_duration', { description: 'Chat turn duration', unit: 's' }),
    mints: meter.createCounter('gateway_token_mints', { description: 'Anonymous upstream token mints, by outcome' }),
    credentialFailures: meter.createCounter('gateway_credential_failures', { description: 'Upstream token failures, by kind' }),
    sessionEvents: meter.createCounter('gateway_session_events', { description: 'Events written to the session log, by type' }),
    exports: meter.createCounter('gateway_exports', { description: 'Exports started and finished, by status' }),
    renderPolls: meter.createCounter('gateway_render_polls', { description: 'Upstream render polls, by outcome' }),
    webhookAttempts: meter.createCounter('gateway_webhook_attempts', { description: 'Webhook delivery attempts, by outcome' }),
    webhookLatency: meter.createHistogram('gateway_webhook_attempt_duration', { description: 'Time a receiver took to answer', unit: 'ms' }),
    sseStreams: meter.createUpDownCounter('gateway.sse.open_streams', { description: 'Open SSE streams, by kind (turn, events)' }),
    graphqlSubscriptions: meter.createUpDownCounter('gateway.graphql.open_subscriptions', { description: 'Open GraphQL subscriptions, by kind' }),
    graphqlExecutions: meter.createUpDownCounter('gateway.graphql.subscription_executions', { description: 'Running executions of GraphQL subscriptions, by kind: one serves every subscriber that sent the same document and variables as the same user' }),
    graphqlFanOut: meter.createHistogram('gateway.graphql.fan_out.duration', {
      description: 'Time to hand one subscription event to every subscriber of its execution (serialised once, one write per socket)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.015, 0.02, 0.025, 0.05, 0.1, 0.25] }
    }),
    graphqlConnections: meter.createUpDownCounter('gateway.graphql.open_connections', { description: 'Open GraphQL WebSocket connections (authenticated)' }),
    graphqlRefusals: meter.createCounter('gateway_graphql_refusals', { description: 'GraphQL operations and WebSocket connections refused by a size or count bound, by reason' }),
    retentionDeleted: meter.createCounter('gateway_retention_deleted_rows', { description: 'Rows deleted by the retention job (pruning), by table' }),
    turnsInFlight: meter.createObservableGauge('gateway.turns.in_flight', { description: 'Chat turns running on this instance, by tenant' }),
    turnRefusals: meter.createCounter('gateway_turn_refusals', { description: 'Chat turns refused at admission, by reason (instance_full: 503; tenant_limit, tenant_share: 429)' }),
    eventAppendSeconds: meter.createHistogram('gateway.event_log.append.duration', {
      description: 'Time to write one event to the session log (lock + insert)',
      unit: 's',
      advice: { explicitBucketBoundaries: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1] }
    })
  }
  // series a dashboard or an alert reads exist from the start, at zero
  for (const kind of ['turn', 'events']) cached.sseStreams.add(0, { kind })
  cached.graphqlSubscriptions.add(0, { kind: 'session_events' })
  cached.graphqlExecutions.add(0, { kind: 'session_events' })
  cached.graphqlConnections.add(0)
  for (const reason of ['document_size', 'subscriptions_per_connection', 'connections_per_key']) cached.graphqlRefusals.add(0, { reason })
  for (const reason of ['instance_full', 'tenant_limit', 'tenant_share']) cached.turnRefusals.add(0, { reason })
  cached.webhookAttempts.add(0, { outcome: 'delivered', trigger: 'scheduled' })
  return cached
}
