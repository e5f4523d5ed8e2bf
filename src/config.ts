// The one validated config. Nothing else in the gateway reads process.env: the server passes
// `loadConfig()` into the app, tests build a config with overrides. A wrong value stops the
// process at boot with a message that names the variable.
import envSchema from 'env-schema'
import { Type, type Static } from 'typebox'

/** Documented defaults of the stream limits; unset lower limits shrink to fit a shorter turn limit. */
export const STREAM_LIMITS = { TURN_SILENCE_MS: 5 * 60_000, TURN_HEARTBEAT_ONLY_MS: 10 * 60_000, TURN_TIMEOUT_MS: 15 * 60_000 } as const

export const ConfigSchema = Type.Object({
  PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 3000 }),
  HOST: Type.String({ minLength: 1, default: '127.0.0.1' }),
  LOG_LEVEL: Type.Union([
    Type.Literal('fatal'), Type.Literal('error'), Type.Literal('warn'), Type.Literal('info'),
    Type.Literal('debug'), Type.Literal('trace'), Type.Literal('silent')
  ], { default: 'info' }),
  /** Unset: an embedded PostgreSQL under DATA_DIR is started. */
  DATABASE_URL: Type.Optional(Type.String({ pattern: '^postgres(ql)?://' })),
  DATA_DIR: Type.String({ minLength: 1, default: './.data' }),
  /** A database query that has not answered by then fails (503 GW_ERR_UNAVAILABLE): a stalled database never hangs a request. */
  DB_QUERY_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** Longest wait for a pooled database connection (or a new one to connect). */
  DB_POOL_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5000 }),
  DB_POOL_MAX: Type.Integer({ minimum: 1, maximum: 1000, default: 10 }),
  EMBEDDED_PG_PORT: Type.Integer({ minimum: 0, maximum: 65535, default: 0 }),
  /** 32 bytes as 64 hex chars or base64. Unset with the embedded default: generated into DATA_DIR. */
  ENCRYPTION_KEY: Type.Optional(Type.String({ minLength: 32 })),
  ADMIN_TOKEN: Type.Optional(Type.String({ minLength: 16 })),
  /** The private Ed25519 JWK that signs client tokens. Unset: generated into DATA_DIR (signing-keys.json). */
  TOKEN_SIGNING_KEY: Type.Optional(Type.String({ minLength: 32 })),
  /** Public JWKs (JSON array) of earlier TOKEN_SIGNING_KEYs, still accepted and published until their tokens expire. */
  TOKEN_SIGNING_KEYS_RETIRED: Type.Optional(Type.String({ minLength: 2 })),
  REDIS_URL: Type.Optional(Type.String({ pattern: '^rediss?://' })),
  /**
   * While Redis (REDIS_URL) is unreachable, rate limits and failed authentications are counted
   * per instance (`local`), or the requests that would be counted answer 503 (`refuse`).
   */
  REDIS_DOWN_POLICY: Type.Union([Type.Literal('local'), Type.Literal('refuse')], { default: 'local' }),

  NEMO_BASE_URL: Type.String({ pattern: '^https?://', default: 'https://mega-api-prod.nemovideo.ai' }),
  /** An upstream token the team already holds: put into the default tenant's registered pool at start. */
  NEMO_TOKEN: Type.Optional(Type.String({ minLength: 8, maxLength: 4096 })),
  /** The product's own skill frontmatter name (contract §2.3: X-Skill-Source carries $SKILL_NAME). */
  NEMO_SKILL_SOURCE: Type.String({ minLength: 1, maxLength: 64, default: 'hd-local-ai' }),
  NEMO_SKILL_VERSION: Type.String({ minLength: 1, maxLength: 32, default: '1.9' }),
  NEMO_SKILL_PLATFORM: Type.String({ minLength: 1, maxLength: 32, default: 'unknown' }),
  NEMO_CONNECT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 5000 }),
  NEMO_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 30000 }),
  NEMO_BODY_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 60000 }),
  NEMO_POOL_CONNECTIONS: Type.Integer({ minimum: 1, default: 64 }),
  /** An upstream Retry-After longer than this is clamped to it (the header is not trusted). */
  NEMO_RETRY_AFTER_MAX_SEC: Type.Integer({ minimum: 1, default: 3600 }),

  RATE_LIMIT_MAX: Type.Integer({ minimum: 1, default: 600 }),
  RATE_LIMIT_WINDOW_MS: Type.Integer({ minimum: 1000, default: 60000 }),
  /**
   * Failed authentications (API key, admin token, WebSocket connection_init) one client
   * address may make per window; past that its failures answer 429. Good credentials from the
   * same address are never limited by this.
   */
  AUTH_FAILURES_MAX: Type.Integer({ minimum: 1, default: 20 }),
  AUTH_FAILURES_WINDOW_MS: Type.Integer({ minimum: 1000, default: 60_000 }),
  AUTH_CACHE_TTL_MS: Type.Integer({ minimum: 0, default: 5000 }),
  CREDITS_CACHE_TTL_MS: Type.Integer({ minimum: 0, default: 3000 }),
  /** A token marked exhausted (2001) is re-checked by a balance read after this long. */
  CREDITS_EXHAUSTED_RECHECK_MS: Type.Integer({ minimum: 0, default: 60_000 }),
  MINT_LIMIT_PER_IP: Type.Integer({ minimum: 1, default: 10 }),
  UPLOAD_MAX_BYTES: Type.Integer({ minimum: 1, default: 500 * 1024 * 1024 }),
  GRAPHIQL: Type.Boolean({ default: false }),
  /** GraphQL WebSocket connections get a graphql-transport-ws ping this often. */
  GRAPHQL_KEEPALIVE_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** Subscriptions one GraphQL WebSocket connection may run at once; one more is answered with an error for its id. */
  GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION: Type.Integer({ minimum: 1, default: 20 }),
  /** Open GraphQL WebSocket connections per API key, per instance; one more is closed with 4429. */
  GRAPHQL_MAX_CONNECTIONS_PER_KEY: Type.Integer({ minimum: 1, default: 250 }),
  /** The longest GraphQL document (query text, UTF-8 bytes) taken, over HTTP and WebSocket; checked before parsing. */
  GRAPHQL_MAX_DOCUMENT_BYTES: Type.Integer({ minimum: 1024, maximum: 1024 * 1024, default: 64 * 1024 }),
  // The three stream limits nest: silence < heartbeat-only < turn limit (checked at boot).
  /** A chat turn is cut after this long (the upstream's own limit is 15 minutes). */
  TURN_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: STREAM_LIMITS.TURN_TIMEOUT_MS }),
  /**
   * A running turn is owned by its instance for this long, renewed every quarter of it; a
   * turn whose lease lapsed (its instance died) is closed as interrupted by any instance.
   */
  TURN_LEASE_MS: Type.Integer({ minimum: 400, default: 8000 }),
  /**
   * Chat turns running on this instance at most; one more is refused at once with 503
   * GW_ERR_AT_CAPACITY and Retry-After (never accepted and left waiting). The upstream pool
   * keeps one connection per turn on top of NEMO_POOL_CONNECTIONS.
   */
  TURNS_MAX_IN_FLIGHT: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),
  /**
   * Chat turns one tenant may run on this instance at once; one more is refused with 429
   * GW_ERR_TOO_MANY_TURNS and Retry-After. Once the instance is three quarters full, a tenant
   * holding its fair share of it (TURNS_MAX_IN_FLIGHT over the tenants running turns) is refused too.
   */
  TURNS_MAX_IN_FLIGHT_PER_TENANT: Type.Integer({ minimum: 1, maximum: 100_000, default: 50 }),
  /** Only heartbeats for this long means the upstream is stuck: recover by polling state. */
  TURN_HEARTBEAT_ONLY_MS: Type.Integer({ minimum: 100, default: STREAM_LIMITS.TURN_HEARTBEAT_ONLY_MS }),
  /** Not one byte (not even a heartbeat) for this long: the same recovery as heartbeat-only. */
  TURN_SILENCE_MS: Type.Integer({ minimum: 50, default: STREAM_LIMITS.TURN_SILENCE_MS }),
  /** First wait of the recovery polls; later waits are twice this (30 s, 60 s, 60 s, ...). */
  TURN_RECOVERY_POLL_MS: Type.Integer({ minimum: 1, default: 30_000 }),
  TURN_RECOVERY_POLLS: Type.Integer({ minimum: 1, default: 5 }),
  /** Upstream heartbeats are logged as events at most this often per turn. */
  HEARTBEAT_EVENT_INTERVAL_MS: Type.Integer({ minimum: 0, default: 5000 }),
  /** SSE streams of the gateway send a keep-alive comment this often. */
  SSE_KEEPALIVE_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /**
   * The whole request (headers and body) must have arrived by then; 0 = no limit, because a
   * 500 MB upload on a slow link takes as long as it takes (HTTP_CONNECTION_TIMEOUT_MS still
   * cuts one that stalls).
   */
  REQUEST_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 0 }),
  /** A connection must send a request's complete headers within this (slow-headers clients, sockets that never send). */
  HTTP_HEADERS_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /** An idle keep-alive connection is closed after this. Behind a load balancer: above its idle timeout. */
  HTTP_KEEPALIVE_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 10_000 }),
  /**
   * A connection with no bytes either way for this long is closed, mid-request too (0 = never).
   * Above the longest silent wait of a request (the upstream's timeouts); SSE streams send a
   * comment every SSE_KEEPALIVE_MS; WebSockets are not affected (they ping).
   */
  HTTP_CONNECTION_TIMEOUT_MS: Type.Integer({ minimum: 0, default: 300_000 }),
  /** Answer 503 while the event loop lags more than this (0 = never). */
  MAX_EVENT_LOOP_DELAY_MS: Type.Integer({ minimum: 0, default: 3000 }),
  /**
   * This long after it starts listening, the process runs V8's low-memory collection once: the
   * young generation the start grew (32 MiB) and other free heap pages go back (0 = never).
   */
  SETTLE_HEAP_AFTER_START_MS: Type.Integer({ minimum: 0, maximum: 600_000, default: 2000 }),
  FIRST_RUN_TENANT: Type.Boolean({ default: true }),
  /** The gateway's own address as callers reach it: download links in webhooks use it. */
  PUBLIC_BASE_URL: Type.Optional(Type.String({ pattern: '^https?://' })),

  /** First render poll this long after submit (the upstream renders in 30-90 s). */
  EXPORT_POLL_INITIAL_MS: Type.Integer({ minimum: 10, default: 30_000 }),
  /** Later polls back off by 1.5x up to this. */
  EXPORT_POLL_MAX_MS: Type.Integer({ minimum: 10, default: 60_000 }),
  /** A render still unfinished after this long is failed (and may be retried by the caller). */
  EXPORT_DEADLINE_MS: Type.Integer({ minimum: 100, default: 15 * 60_000 }),
  /**
   * One render submit may take this long. The export row is leased to its submitter for a few
   * seconds more; a submit cut off by a crash is resolved by any instance once that lease ends.
   */
  EXPORT_SUBMIT_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 20_000 }),
  /** Polls in a row that cannot tell a render's state (2001, an unconfirmed 1001) before it is decided. */
  EXPORT_POLL_RECHECKS: Type.Integer({ minimum: 1, default: 5 }),
  /** Upstream render polls per second at most, per instance, however many exports are in flight. */
  EXPORT_POLL_RATE: Type.Number({ minimum: 0.1, default: 20 }),
  /**
   * Where a completed export's MP4 is copied, so it outlives the upstream's output URL: `local`
   * (under OUTPUT_DIR), `s3` (an S3-compatible bucket, S3_*), or `off` (downloads stream from
   * the upstream for as long as it keeps the file).
   */
  OUTPUT_STORAGE: Type.Union([Type.Literal('local'), Type.Literal('s3'), Type.Literal('off')], { default: 'local' }),
  /** The local store's folder. Unset: `outputs` under DATA_DIR. */
  OUTPUT_DIR: Type.Optional(Type.String({ minLength: 1 })),
  /** Archived files older than this many days are deleted (the export says `expired`). 0 = kept until the export or its user is deleted. */
  OUTPUT_RETENTION_DAYS: Type.Number({ minimum: 0, default: 0 }),
  /** How often the retention sweep looks for archived files past OUTPUT_RETENTION_DAYS. */
  OUTPUT_SWEEP_INTERVAL_MS: Type.Integer({ minimum: 100, default: 3600_000 }),
  /** A copy is leased to its instance this long, renewed as it goes; a copy whose instance died starts again once it lapses. */
  OUTPUT_COPY_LEASE_MS: Type.Integer({ minimum: 500, default: 30_000 }),
  /** Copies tried before the archive of an export is given up as `failed` (downloads then stream from the upstream). */
  OUTPUT_COPY_ATTEMPTS: Type.Integer({ minimum: 1, default: 5 }),
  /** The S3-compatible endpoint (MinIO, R2, Ceph...). Unset: AWS S3 of S3_REGION. */
  S3_ENDPOINT: Type.Optional(Type.String({ pattern: '^https?://' })),
  S3_BUCKET: Type.Optional(Type.String({ minLength: 3, maxLength: 63 })),
  S3_REGION: Type.String({ minLength: 1, default: 'us-east-1' }),
  /** Unset (with the secret): the AWS SDK's own chain (environment, profile, instance role). */
  S3_ACCESS_KEY_ID: Type.Optional(Type.String({ minLength: 1 })),
  S3_SECRET_ACCESS_KEY: Type.Optional(Type.String({ minLength: 1 })),
  /** Path-style URLs (endpoint/bucket/key), which most S3-compatible servers need. */
  S3_FORCE_PATH_STYLE: Type.Boolean({ default: true }),
  /** Prepended to every object key, e.g. `gateway/`. */
  S3_PREFIX: Type.String({ default: '' }),

  /** How often the job workers look for due jobs (pg-boss polling; at least 500). */
  JOBS_POLL_INTERVAL_MS: Type.Integer({ minimum: 500, default: 1000 }),

  /** Comma-separated CIDRs webhook receivers may resolve to despite being private/loopback. */
  WEBHOOK_ALLOWED_CIDRS: Type.String({ default: '' }),
  /** Waits between delivery attempts: durations like 5s, 5m, 2h (or plain ms), comma-separated. */
  WEBHOOK_RETRY_SCHEDULE: Type.String({ minLength: 1, default: '5s,5m,30m,2h,5h,10h,10h' }),
  /** One delivery attempt's deadline: connect, headers and body together. */
  WEBHOOK_TIMEOUT_MS: Type.Integer({ minimum: 100, default: 15_000 }),
  /** Delivery attempts one instance makes at once, across all endpoints. */
  WEBHOOK_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 1000, default: 64 }),
  /** Attempts in flight to one endpoint at once, across all instances: a slow receiver fills only these. */
  WEBHOOK_ENDPOINT_CONCURRENCY: Type.Integer({ minimum: 1, maximum: 100, default: 4 }),
  /** An endpoint that has failed every attempt for this long is disabled. */
  WEBHOOK_DISABLE_AFTER_MS: Type.Integer({ minimum: 1000, default: 5 * 24 * 3600_000 }),
  /** How often the delivery worker looks for due messages (new ones are sent at once). */
  WEBHOOK_POLL_MS: Type.Integer({ minimum: 10, default: 1000 }),
  /** After a secret rotation the old secret still signs for this long. */
  WEBHOOK_ROTATION_OVERLAP_MS: Type.Integer({ minimum: 0, default: 24 * 3600_000 }),

  /** Idempotency records (a retry's stored answer) live this long; expired ones are pruned. */
  IDEMPOTENCY_TTL_HOURS: Type.Number({ exclusiveMinimum: 0, maximum: 24 * 30, default: 24 }),
  // Retention (domain/retention): what the pruning job deletes, by age; 0 keeps forever.
  /** The event log of a session idle this long (no event, no running turn, no active export) is deleted. */
  RETENTION_EVENTS_DAYS: Type.Number({ minimum: 0, default: 30 }),
  /** Finished turns (not running) this long after they ended. */
  RETENTION_TURNS_DAYS: Type.Number({ minimum: 0, default: 90 }),
  /** Finished exports (completed, failed, cancelled) this long after they ended. */
  RETENTION_EXPORTS_DAYS: Type.Number({ minimum: 0, default: 90 }),
  /** Webhook messages no longer pending (delivered, failed), with their attempts, this long after they were created. */
  RETENTION_WEBHOOK_MESSAGES_DAYS: Type.Number({ minimum: 0, default: 30 }),
  /** Mint ledger rows this old; the mint limits read the last 7 days, so 0 (keep) or at least 7. */
  RETENTION_MINT_LEDGER_DAYS: Type.Number({ minimum: 0, default: 30 }),
  /** When the pruning job runs (cron, 5 fields; one instance runs each pass); `off` = never (the admin CLI still prunes). */
  RETENTION_SCHEDULE: Type.String({ minLength: 3, default: '17 * * * *' }),
  /** Rows one pruning statement deletes at most: short statements, short locks. */
  RETENTION_BATCH_SIZE: Type.Integer({ minimum: 1, maximum: 100_000, default: 1000 }),

  /**
   * The hot path reuses a tenant's settings and a user's current upstream token this long
   * without a database read (changes made on this instance apply at once; other instances
   * see them within this). 0 = always read.
   */
  HOT_CACHE_TTL_MS: Type.Integer({ minimum: 0, maximum: 60_000, default: 1000 }),

  /** `deployment.environment.name` on every span and metric's resource (e.g. production, staging). */
  DEPLOYMENT_ENVIRONMENT: Type.String({ minLength: 1, maxLength: 64, default: 'production' }),
  /**
   * With spans exported: also a span per Fastify hook and handler, and Prisma's internal spans
   * (serialize, compile, connection, transaction). Off: one server span per request, one per
   * query, one per upstream call, plus the gateway's own (turn, export, webhook delivery).
   */
  OTEL_DETAILED_SPANS: Type.Boolean({ default: false }),

  /** SIGTERM/SIGINT: the whole drain must end within this, or the process exits anyway. */
  SHUTDOWN_TIMEOUT_MS: Type.Integer({ minimum: 1000, default: 15_000 }),
  /** While draining, running turns keep their upstream stream this long, then end as interrupted. */
  TURN_DRAIN_MS: Type.Integer({ minimum: 0, default: 10_000 })
})

export type Config = Static<typeof ConfigSchema>

export function loadConfig (env: Record<string, string | undefined> = process.env): Config {
  // `DATABASE_URL=` in a shell or .env file means "not set", not "set to nothing"
  const data = Object.fromEntries(Object.entries(env).filter(([, v]) => v !== undefined && v !== ''))
  try {
    // env: false: the caller's map is the whole input (tests must not inherit the shell's)
    return checkRetention(checkOutputStorage(checkHttpTimeouts(nestStreamLimits(envSchema<Config>({ schema: ConfigSchema, data, env: false, dotenv: false }), data))))
  } catch (err) {
    throw new Error(`Invalid configuration: ${(err as Error).message}`)
  }
}

/**
 * Silence < heartbeat-only < turn limit, or a limit could never act: a lower limit left unset
 * shrinks under a shorter upper one (to 2/3 and 1/2 of it); limits set the wrong way round
 * stop the process at boot.
 */
function nestStreamLimits (config: Config, given: Record<string, unknown>): Config {
  if (!('TURN_HEARTBEAT_ONLY_MS' in given)) config.TURN_HEARTBEAT_ONLY_MS = Math.min(STREAM_LIMITS.TURN_HEARTBEAT_ONLY_MS, Math.floor(config.TURN_TIMEOUT_MS * 2 / 3))
  if (!('TURN_SILENCE_MS' in given)) config.TURN_SILENCE_MS = Math.min(STREAM_LIMITS.TURN_SILENCE_MS, Math.floor(config.TURN_HEARTBEAT_ONLY_MS / 2))
  if (config.TURN_SILENCE_MS >= config.TURN_HEARTBEAT_ONLY_MS) {
    throw new Error(`TURN_SILENCE_MS (${config.TURN_SILENCE_MS}) must be shorter than TURN_HEARTBEAT_ONLY_MS (${config.TURN_HEARTBEAT_ONLY_MS})`)
  }
  if (config.TURN_HEARTBEAT_ONLY_MS >= config.TURN_TIMEOUT_MS) {
    throw new Error(`TURN_HEARTBEAT_ONLY_MS (${config.TURN_HEARTBEAT_ONLY_MS}) must be shorter than TURN_TIMEOUT_MS (${config.TURN_TIMEOUT_MS})`)
  }
  return config
}

/** HTTP timeouts that would cut what another limit allows stop the process at boot. */
function checkHttpTimeouts (config: Config): Config {
  if (config.REQUEST_TIMEOUT_MS > 0 && config.HTTP_HEADERS_TIMEOUT_MS > config.REQUEST_TIMEOUT_MS) {
    throw new Error(`HTTP_HEADERS_TIMEOUT_MS (${config.HTTP_HEADERS_TIMEOUT_MS}) must not be longer than REQUEST_TIMEOUT_MS (${config.REQUEST_TIMEOUT_MS})`)
  }
  if (config.HTTP_CONNECTION_TIMEOUT_MS > 0 && config.HTTP_CONNECTION_TIMEOUT_MS <= config.SSE_KEEPALIVE_MS) {
    throw new Error(`HTTP_CONNECTION_TIMEOUT_MS (${config.HTTP_CONNECTION_TIMEOUT_MS}) must be longer than SSE_KEEPALIVE_MS (${config.SSE_KEEPALIVE_MS}), or SSE streams are cut`)
  }
  return config
}

/** S3 storage needs a bucket, and keys come in pairs. */
function checkOutputStorage (config: Config): Config {
  if (config.OUTPUT_STORAGE === 's3' && config.S3_BUCKET === undefined) throw new Error('OUTPUT_STORAGE=s3 needs S3_BUCKET')
  if ((config.S3_ACCESS_KEY_ID === undefined) !== (config.S3_SECRET_ACCESS_KEY === undefined)) {
    throw new Error('S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY are set together, or neither (the AWS SDK\'s own credential chain)')
  }
  return config
}

/** Ages the pruning job could not honour stop the process at boot. */
function checkRetention (config: Config): Config {
  const mint = config.RETENTION_MINT_LEDGER_DAYS
  if (mint > 0 && mint < 7) throw new Error(`RETENTION_MINT_LEDGER_DAYS (${mint}) must be 0 (keep) or at least 7: the mint limits count the last 7 days`)
  const schedule = config.RETENTION_SCHEDULE.trim()
  if (schedule !== 'off' && schedule.split(/\s+/).length !== 5) throw new Error(`RETENTION_SCHEDULE (${schedule}) must be a cron expression of 5 fields, e.g. "17 * * * *", or "off"`)
  return config
}

/**
 * The gateway's address as callers reach it: PUBLIC_BASE_URL, else HOST:PORT (a wildcard host
 * read as loopback). `port` is the port actually listened on, when known (PORT=0 picks one).
 */
export function publicBaseUrl (config: Config, port: number = config.PORT): string {
  if (config.PUBLIC_BASE_URL !== undefined) return config.PUBLIC_BASE_URL.replace(/\/+$/, '')
  const host = config.HOST === '0.0.0.0' || config.HOST === '::' ? '127.0.0.1' : config.HOST
  return `http://${host.includes(':') ? `[${host}]` : host}:${port}`
}

/** A config for tests and tools: defaults plus overrides, validated the same way. */
export function buildConfig (overrides: Partial<Record<keyof Config, string | number | boolean>> = {}): Config {
  const env: Record<string, string> = {}
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) env[k] = String(v)
  return loadConfig(env)
}
