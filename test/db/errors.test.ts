import t from 'tap'
import { randomBytes } from 'node:crypto'
import Fastify from 'fastify'
import { PrismaPg } from '@prisma/adapter-pg'
import { buildConfig } from '../../src/config.ts'
import db from '../../src/plugins/db.ts'
import { PrismaClient } from '../../src/generated/prisma/client.ts'
import { databaseErrorToGatewayError, isUniqueViolation, mapDatabaseError } from '../../src/db/errors.ts'
import { gwError } from '../../src/errors.ts'
import { testDatabase } from '../helpers/database.ts'

const app = Fastify({ logger: false })
app.decorate('config', buildConfig({ DATABASE_URL: await testDatabase(t), ENCRYPTION_KEY: randomBytes(32).toString('hex') }))
app.register(db)
t.teardown(() => app.close())
await app.ready()

async function caught (p: Promise<unknown>): Promise<unknown> {
  try {
    await p
  } catch (err) {
    return err
  }
  throw new Error('expected a rejection')
}

t.test('unique and foreign key violations say what the caller did in product words, never a constraint', async (t) => {
  await app.prisma.tenant.create({ data: { name: 'dup' } })
  const err = await caught(app.prisma.tenant.create({ data: { name: 'dup' } }))
  t.ok(isUniqueViolation(err))
  const mapped = databaseErrorToGatewayError(err)
  t.match(mapped, { code: 'GW_ERR_CONFLICT', statusCode: 409 })
  t.equal(mapped?.message, 'A tenant with this name already exists; pick another name')
  t.equal(mapped?.cause, err)

  const tenant = await app.prisma.tenant.create({ data: { name: 'fk' } })
  const user = { tenantId: tenant.id, externalId: 'alice', clientId: 'client-1' }
  await app.prisma.user.create({ data: user })
  const twice = databaseErrorToGatewayError(await caught(app.prisma.user.create({ data: { ...user, clientId: 'client-2' } })))
  t.equal(twice?.message, 'This end user already exists')
  const orphan = databaseErrorToGatewayError(await caught(app.prisma.webhookMessage.create({
    data: { tenantId: tenant.id, endpointId: '00000000-0000-0000-0000-000000000000', eventType: 'export.completed', payload: {}, body: '{}', nextAttemptAt: new Date() }
  })))
  t.match(orphan, { code: 'GW_ERR_CONFLICT', message: /^The webhook message refers to something that no longer exists/ })

  for (const detail of [mapped?.message, twice?.message, orphan?.message]) {
    // the schema's words: constraint and index names, column lists, Prisma's own sentence
    t.notMatch(detail, /_key|_fkey|_pkey|constraint|fields|tenantId|externalId|Unique/, String(detail))
  }
})

t.test('a date Postgres cannot store (year 0) -> GW_ERR_VALIDATION, not a 500', async (t) => {
  const err = await caught(app.prisma.webhookMessage.findMany({ where: { createdAt: { gte: new Date('0000-01-01T00:00:00Z') } } }))
  t.match(databaseErrorToGatewayError(err), { code: 'GW_ERR_VALIDATION', statusCode: 400, message: /outside the range/ })
})

t.test('record not found (P2025) -> GW_ERR_NOT_FOUND', async (t) => {
  const err = await caught(app.prisma.tenant.update({ where: { id: '00000000-0000-0000-0000-000000000000' }, data: { name: 'x' } }))
  t.match(databaseErrorToGatewayError(err), { code: 'GW_ERR_NOT_FOUND', statusCode: 404 })
})

t.test('database down -> GW_ERR_UNAVAILABLE (503, Retry-After)', async (t) => {
  const down = new PrismaClient({ adapter: new PrismaPg({ connectionString: 'postgres://postgres@127.0.0.1:1/postgres' }) })
  t.teardown(() => down.$disconnect())
  const err = await caught(down.tenant.count())
  const mapped = databaseErrorToGatewayError(err)
  t.match(mapped, { code: 'GW_ERR_UNAVAILABLE', statusCode: 503, headers: { 'retry-after': '1' } }, String(err))
})

t.test('anything else is left alone', async (t) => {
  const plain = new Error('not a database error')
  t.equal(databaseErrorToGatewayError(plain), undefined)
  t.equal(mapDatabaseError(plain), plain)
  const already = gwError('GW_ERR_FORBIDDEN')
  t.equal(mapDatabaseError(already), already)
  t.match(databaseErrorToGatewayError(Object.assign(new Error('refused'), { code: 'ECONNREFUSED' })), { code: 'GW_ERR_UNAVAILABLE' })
})
