// The Nemo simulator as a real HTTP server on port 0, with helpers for its control API.
import type { Test } from 'tap'
import { request } from 'undici'
import { buildSimulator } from '../../src/simulator/app.ts'

interface SimCounters {
  requests: Record<string, number>
  openStreams: number
  abortedUploads: number
  completedUploads: number
  mints: number
}

export interface RunningSimulator {
  url: string
  counters: () => Promise<SimCounters>
  fault: (fault: Record<string, unknown>) => Promise<void>
  configure: (config: Record<string, unknown>) => Promise<void>
  control: (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown) => Promise<unknown>
}

export async function startSimulator (t: Test, opts: Record<string, unknown> = {}): Promise<RunningSimulator> {
  const sim = await buildSimulator({ heartbeatIntervalMs: 5, stepDelayMs: 1, generationMs: 30, renderDurationMs: 200, ...opts })
  await sim.listen({ port: 0, host: '127.0.0.1' })
  t.teardown(async () => { await sim.close() })
  const address = sim.server.address()
  const url = typeof address === 'object' && address ? `http://127.0.0.1:${address.port}` : ''

  const control = async (method: 'GET' | 'POST' | 'PUT', path: string, body?: unknown): Promise<unknown> => {
    const res = await request(`${url}/__sim/${path}`, {
      method,
      headers: body === undefined ? {} : { 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body)
    })
    const text = await res.body.text()
    if (res.statusCode >= 400) throw new Error(`simulator ${path}: ${res.statusCode} ${text}`)
    return text ? JSON.parse(text) : null
  }

  return {
    url,
    control,
    counters: async () => await control('GET', 'counters') as SimCounters,
    fault: async (fault) => { await control('POST', 'faults', fault) },
    configure: async (config) => { await control('POST', 'config', config) }
  }
}
