// What Prisma costs per query on the hot path, against a plain `pg` query on the same pool:
// the session read of `GET /v1/sessions/:id` three ways (Prisma's `findFirst` with the view's
// columns, Prisma's `$queryRaw`, and `pg` directly), sequential (latency and CPU per query in
// this process) and 32 at a time with pools of several sizes (throughput). Run by bench/run.ts
// against the gateway's own database while the gateway is idle.
import pg from 'pg'
import { PrismaPg } from '@prisma/adapter-pg'
import { PrismaClient } from '../src/generated/prisma/client.ts'

export interface DbWay { way: string, seqUsP50: number, cpuUsPerQuery: number }
export interface DbPool { poolMax: number, way: string, queriesPerSec: number }
export interface DbReport { sequential: DbWay[], concurrent: DbPool[], concurrency: number }

interface Target { sessionId: string, tenantId: string, userId: string }

const SQL = 'SELECT id, title, language, "upstreamSessionId", "upstreamTaskId", "resetCount", "createdAt", "updatedAt" FROM "Session" WHERE id = $1::uuid AND "tenantId" = $2::uuid AND "userId" = $3::uuid LIMIT 1'

function ways (prisma: PrismaClient, pool: pg.Pool, t: Target): Array<[string, () => Promise<unknown>]> {
  const select = { id: true, title: true, language: true, upstreamSessionId: true, upstreamTaskId: true, resetCount: true, createdAt: true, updatedAt: true } as const
  return [
    ['Prisma findFirst', async () => await prisma.session.findFirst({ where: { id: t.sessionId, tenantId: t.tenantId, userId: t.userId }, select })],
    ['Prisma $queryRaw', async () => await prisma.$queryRaw`SELECT id, title, language, "upstreamSessionId", "upstreamTaskId", "resetCount", "createdAt", "updatedAt" FROM "Session" WHERE id = ${t.sessionId}::uuid AND "tenantId" = ${t.tenantId}::uuid AND "userId" = ${t.userId}::uuid LIMIT 1`],
    ['pg pool.query', async () => (await pool.query(SQL, [t.sessionId, t.tenantId, t.userId])).rows[0]]
  ]
}

async function client (url: string, max: number): Promise<{ prisma: PrismaClient, pool: pg.Pool }> {
  const pool = new pg.Pool({ connectionString: url, max })
  const prisma = new PrismaClient({ adapter: new PrismaPg(pool) })
  await prisma.$connect()
  return { prisma, pool }
}

const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!

export async function measureDb (url: string, target: Target, opts: { queries: number, concurrency: number, pools: number[] }): Promise<DbReport> {
  const sequential: DbWay[] = []
  const { prisma, pool } = await client(url, 10)
  try {
    const all = ways(prisma, pool, target)
    for (const [, run] of all) for (let i = 0; i < 300; i++) await run() // warm-up: JIT, prepared plans
    const samples = new Map<string, { lat: number[], cpu: number, n: number }>(all.map(([w]) => [w, { lat: [], cpu: 0, n: 0 }]))
    // interleaved blocks, so a busier moment of the machine hits every way alike
    for (let block = 0; block < 10; block++) {
      for (const [way, run] of all) {
        const s = samples.get(way)!
        const cpu = process.cpuUsage()
        for (let i = 0; i < opts.queries / 10; i++) {
          const t0 = performance.now()
          await run()
          s.lat.push((performance.now() - t0) * 1000)
        }
        const used = process.cpuUsage(cpu)
        s.cpu += used.user + used.system
        s.n += opts.queries / 10
      }
    }
    for (const [way, s] of samples) sequential.push({ way, seqUsP50: median(s.lat), cpuUsPerQuery: s.cpu / s.n })
  } finally {
    await prisma.$disconnect()
    await pool.end()
  }

  const concurrent: DbPool[] = []
  for (const max of opts.pools) {
    const { prisma, pool } = await client(url, max)
    try {
      for (const [way, run] of ways(prisma, pool, target)) {
        if (way === 'Prisma $queryRaw') continue
        const deadline = performance.now() + 2000
        let n = 0
        await Promise.all(Array.from({ length: opts.concurrency }, async () => {
          while (performance.now() < deadline) { await run(); n++ }
        }))
        concurrent.push({ poolMax: max, way, queriesPerSec: n / 2 })
      }
    } finally {
      await prisma.$disconnect()
      await pool.end()
    }
  }
  return { sequential, concurrent, concurrency: opts.concurrency }
}
