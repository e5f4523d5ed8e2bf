// Retention: a pass deletes what is past its age and nothing else. Rows are written straight
// into a real database with their ages (days back), then one pass runs as the job runs it.
import t, { type Test } from 'tap'
import { randomUUID } from 'node:crypto'
import { buildGateway, type TestGateway } from '../../helpers/app.ts'

const DAY = 24 * 3600_000
const ago = (days: number) => new Date(Date.now() - days * DAY)

const AGES = {
  RETENTION_EVENTS_DAYS: 1,
  RETENTION_TURNS_DAYS: 1,
  RETENTION_EXPORTS_DAYS: 1,
  RETENTION_WEBHOOK_MESSAGES_DAYS: 1,
  RETENTION_MINT_LEDGER_DAYS: 7,
  // the test runs the passes itself
  RETENTION_SCHEDULE: 'off'
}

/** A tenant, a user and its token: what sessions hang on. */
async function world (gw: TestGateway) {
  const prisma = gw.app.prisma
  const tenant = await prisma.tenant.create({ data: { name: `t-${randomUUID()}` } })
  const user = await prisma.user.create({ data: { tenantId: tenant.id, externalId: 'alice', clientId: randomUUID() } })
  const credential = await prisma.credential.create({ data: { tenantId: tenant.id, userId: user.id, kind: 'anonymous', tokenCiphertext: 'x', tokenHash: randomUUID() } })
  const endpoint = await prisma.webhookEndpoint.create({ data: { tenantId: tenant.id, url: 'https://hooks.example.com/x', secrets: [] } })
  const session = async () => await prisma.session.create({ data: { tenantId: tenant.id, userId: user.id, credentialId: credential.id, upstreamSessionId: randomUUID() } })
  const events = async (sessionId: string, days: number[]) => {
    for (const d of days) await prisma.sessionEvent.create({ data: { sessionId, type: 'text', payload: {}, createdAt: ago(d) } })
  }
  const turn = async (sessionId: string, status: 'running' | 'completed' | 'failed', days: number) =>
    await prisma.turn.create({
      data: {
        sessionId,
        text: 'hi',
        status,
        startedAt: ago(days + 0.01),
        finishedAt: status === 'running' ? null : ago(days),
        // a running turn holds a live lease (its instance is alive), or the gateway's sweep closes it
        ...(status === 'running' ? { instanceId: randomUUID(), leaseUntil: ago(-1) } : {})
      }
    })
  const exp = async (sessionId: string, status: 'queued' | 'pending' | 'completed' | 'failed' | 'canceled', days: number) =>
    await prisma.export.create({
      data: {
        tenantId: tenant.id,
        userId: user.id,
        sessionId,
        credentialId: credential.id,
        status,
        deadlineAt: ago(days - 0.01),
        createdAt: ago(days + 0.01),
        updatedAt: ago(days),
        completedAt: status === 'completed' ? ago(days) : null
      }
    })
  const message = async (status: 'pending' | 'delivered' | 'failed', days: number, attempts: number) => {
    const m = await prisma.webhookMessage.create({ data: { tenantId: tenant.id, endpointId: endpoint.id, eventType: 'export.completed', payload: {}, body: '{}', status, createdAt: ago(days) } })
    for (let i = 0; i < attempts; i++) await prisma.webhookAttempt.create({ data: { messageId: m.id, statusCode: 500, createdAt: ago(days) } })
    return m
  }
  return { prisma, tenant, user, credential, endpoint, session, events, turn, exp, message }
}

async function deletedMetric (gw: TestGateway, table: string): Promise<number> {
  const scrape = (await gw.app.inject({ method: 'GET', url: '/metrics' })).body
  const line = scrape.split('\n').find((l) => l.startsWith('gateway_retention_deleted_rows_total{') && l.includes(`table="${table}"`))
  return line === undefined ? 0 : Number(line.split(' ').pop())
}

t.test('a pass deletes every kind of old row and keeps the recent ones and what still runs', async (t: Test) => {
  const gw = await buildGateway(t, { config: AGES })
  const w = await world(gw)
  const { prisma } = w

  // the event log: only a whole idle session's log goes
  const idle = await w.session()
  await w.events(idle.id, [5, 4, 3])
  const live = await w.session()
  await w.events(live.id, [5, 4, 0.1])
  const turning = await w.session()
  await w.events(turning.id, [5, 3])
  const runningTurn = await w.turn(turning.id, 'running', 3)
  const rendering = await w.session()
  await w.events(rendering.id, [5, 3])
  const activeExport = await w.exp(rendering.id, 'pending', 3)

  // turns and exports: finished and old go
  const oldTurns = [await w.turn(idle.id, 'completed', 3), await w.turn(idle.id, 'failed', 2)]
  const recentTurn = await w.turn(live.id, 'completed', 0.5)
  const oldExports = [await w.exp(idle.id, 'completed', 3), await w.exp(idle.id, 'failed', 2), await w.exp(idle.id, 'canceled', 2)]
  const recentExport = await w.exp(live.id, 'completed', 0.5)
  const queuedOld = await w.exp(live.id, 'queued', 3)

  // webhook messages with their attempts: delivered or failed and old go; pending stays
  const oldMessages = [await w.message('delivered', 3, 2), await w.message('failed', 2, 3)]
  const pendingOld = await w.message('pending', 3, 1)
  const recentMessage = await w.message('delivered', 0.5, 1)

  // idempotency records carry their own expiry; the mint ledger keeps at least the 7 days the limits read
  await prisma.idempotencyRecord.create({ data: { tenantId: w.tenant.id, key: 'old', route: 'r', fingerprint: 'f', expiresAt: ago(0.1) } })
  await prisma.idempotencyRecord.create({ data: { tenantId: w.tenant.id, key: 'new', route: 'r', fingerprint: 'f', expiresAt: ago(-0.9) } })
  await prisma.mintLedger.create({ data: { clientId: 'c', outcome: 'minted', createdAt: ago(8) } })
  await prisma.mintLedger.create({ data: { clientId: 'c', outcome: 'minted', createdAt: ago(6) } })

  // a portal link's row stays a day past its expiry (it names why the link is refused), then goes
  await prisma.portalSession.create({ data: { tenantId: w.tenant.id, tokenHash: 'old-link', expiresAt: ago(1.5) } })
  await prisma.portalSession.create({ data: { tenantId: w.tenant.id, tokenHash: 'just-expired', expiresAt: ago(0.5), revokedAt: ago(0.6) } })

  const expected = { SessionEvent: 3, Turn: 2, Export: 3, WebhookMessage: 2, WebhookAttempt: 5, IdempotencyRecord: 1, MintLedger: 1, PortalSession: 1 }
  const dry = await gw.app.domain.retention.prune({ dryRun: true })
  t.same(dry.deleted, expected, 'a dry run counts what a pass deletes')
  t.equal(await prisma.sessionEvent.count(), 10, 'and deletes nothing')

  const before = await deletedMetric(gw, 'WebhookAttempt')
  const pass = await gw.app.domain.retention.prune()
  t.same(pass.deleted, expected, 'the pass reports what it deleted, by table')
  t.equal(await deletedMetric(gw, 'WebhookAttempt') - before, 5, 'and counts it in gateway_retention_deleted_rows_total{table}')

  t.equal(await prisma.sessionEvent.count({ where: { sessionId: idle.id } }), 0, 'an idle session\'s log is gone')
  t.equal(await prisma.sessionEvent.count({ where: { sessionId: live.id } }), 3, 'a session with a recent event keeps its whole log')
  t.equal(await prisma.sessionEvent.count({ where: { sessionId: turning.id } }), 2, 'a session with a running turn keeps its log')
  t.equal(await prisma.sessionEvent.count({ where: { sessionId: rendering.id } }), 2, 'a session with an active export keeps its log')
  t.ok(await prisma.session.findUnique({ where: { id: idle.id } }), 'the session itself stays')

  t.equal(await prisma.turn.count({ where: { id: { in: oldTurns.map((x) => x.id) } } }), 0, 'old finished turns are gone')
  t.ok(await prisma.turn.findUnique({ where: { id: recentTurn.id } }), 'a recent turn stays')
  t.ok(await prisma.turn.findUnique({ where: { id: runningTurn.id } }), 'a running turn stays, however old')

  t.equal(await prisma.export.count({ where: { id: { in: oldExports.map((x) => x.id) } } }), 0, 'old completed, failed and cancelled exports are gone')
  t.ok(await prisma.export.findUnique({ where: { id: recentExport.id } }), 'a recent export stays')
  t.ok(await prisma.export.findUnique({ where: { id: activeExport.id } }), 'an active export stays')
  t.ok(await prisma.export.findUnique({ where: { id: queuedOld.id } }), 'a queued export stays')

  t.equal(await prisma.webhookMessage.count({ where: { id: { in: oldMessages.map((x) => x.id) } } }), 0, 'old delivered and failed messages are gone')
  t.equal(await prisma.webhookAttempt.count({ where: { messageId: { in: oldMessages.map((x) => x.id) } } }), 0, 'with their attempts')
  t.equal(await prisma.webhookAttempt.count({ where: { messageId: { in: [pendingOld.id, recentMessage.id] } } }), 2, 'a pending message and a recent one keep theirs')

  t.same((await prisma.idempotencyRecord.findMany()).map((r) => r.key), ['new'], 'expired idempotency records are gone')
  t.equal(await prisma.mintLedger.count(), 1, 'mint ledger rows past the age are gone')
  t.same((await prisma.portalSession.findMany()).map((r) => r.tokenHash), ['just-expired'], 'a portal link a day past its expiry is gone; one just expired stays')

  const again = await gw.app.domain.retention.prune()
  t.same(Object.values(again.deleted).filter((n) => n > 0), [], 'a second pass finds nothing')
})

t.test('more rows than one batch: every old row goes, in several statements, and the recent ones stay', async (t: Test) => {
  const gw = await buildGateway(t, { config: { ...AGES, RETENTION_BATCH_SIZE: 7 } })
  const w = await world(gw)
  const idle = await w.session()
  const live = await w.session()
  // interleaved, so windows of the log hold rows of both sessions
  for (let i = 0; i < 20; i++) await w.events(i % 2 === 0 ? idle.id : live.id, [5])
  await w.events(live.id, [0.1])
  for (let i = 0; i < 16; i++) await w.turn(idle.id, 'completed', 3)
  await w.turn(idle.id, 'completed', 0.1)
  for (let i = 0; i < 15; i++) await w.exp(idle.id, 'completed', 3)
  await w.exp(idle.id, 'completed', 0.1)
  for (let i = 0; i < 14; i++) await w.message('delivered', 3, 1)
  await w.message('delivered', 0.1, 1)

  const pass = await gw.app.domain.retention.prune()
  t.same(pass.deleted, { SessionEvent: 10, Turn: 16, Export: 15, WebhookMessage: 14, WebhookAttempt: 14, IdempotencyRecord: 0, MintLedger: 0, PortalSession: 0 })
  t.ok(pass.batches >= 4 * 3, `${pass.batches} statements of at most 7 rows`)
  t.equal(await w.prisma.sessionEvent.count({ where: { sessionId: live.id } }), 11, 'the live session keeps all 11 events')
  t.equal(await w.prisma.sessionEvent.count({ where: { sessionId: idle.id } }), 0)
  t.equal(await w.prisma.turn.count(), 1)
  t.equal(await w.prisma.export.count(), 1)
  t.equal(await w.prisma.webhookMessage.count(), 1)
  t.equal(await w.prisma.webhookAttempt.count(), 1)
})

t.test('an age of 0 keeps that table forever; the job is scheduled on pg-boss', async (t: Test) => {
  const gw = await buildGateway(t, { config: { ...AGES, RETENTION_TURNS_DAYS: 0, RETENTION_SCHEDULE: '*/5 * * * *' } })
  const w = await world(gw)
  const s = await w.session()
  await w.turn(s.id, 'completed', 3000)
  const pass = await gw.app.domain.retention.prune()
  t.equal(pass.deleted.Turn, 0)
  t.equal(await w.prisma.turn.count(), 1)
  const schedules = await w.prisma.$queryRawUnsafe<Array<{ name: string, cron: string }>>('SELECT name, cron FROM pgboss.schedule')
  t.same(schedules, [{ name: 'retention-prune', cron: '*/5 * * * *' }], 'one schedule for every instance')
})
