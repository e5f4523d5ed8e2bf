// `node --import=tsx bench/streams/limits.ts [--connections 250] [--subscriptions 20] [--document small|max]`:
// the gateway's memory at the worst case its WebSocket bounds allow one API key: the most
// connections a key may open (GRAPHQL_MAX_CONNECTIONS_PER_KEY), each running the most
// subscriptions a connection may (GRAPHQL_MAX_SUBSCRIPTIONS_PER_CONNECTION), all idle. Then one
// more connection and one more subscription, which must be refused. `--document max` sends
// subscription documents as large and token-heavy as the limits let through (a running
// subscription keeps its parsed document).
// The gateway runs from dist/ on its embedded Postgres with its default limits (or the ones
// given), its RSS read from /proc after a full garbage collection (through its inspector).
// Prints the numbers; bench/README.md ("WebSocket bounds") keeps them. Not part of `npm test`.
import { parseArgs } from 'node:util'
import WebSocket from 'ws'
import { request } from 'undici'
import { freePort } from '../free-port.ts'
import { buildDist, json, pinSelf, rssKiB, startGateway, startSimulator, stop, stopGateway } from '../lib.ts'

const { values: args } = parseArgs({
  options: {
    connections: { type: 'string', default: '250' },
    subscriptions: { type: 'string', default: '20' },
    document: { type: 'string', default: 'small' }
  }
})
const CONNECTIONS = Number(args.connections)
const SUBSCRIPTIONS = Number(args.subscriptions)
const BATCH = 50
const sleep = async (ms: number) => await new Promise((resolve) => setTimeout(resolve, ms))

function document (): string {
  const small = 'subscription ($id: ID!) { sessionEvents(sessionId: $id) { cursor sessionId turnId type payload createdAt } }'
  if (args.document !== 'max') return small
  // the heaviest a subscription may keep: 8 KB and 300 tokens (MAX_SUBSCRIPTION_*), as
  // aliased fields with long names
  const fields: string[] = []
  for (let i = 0; i < 90; i++) fields.push(`f${i}${'x'.repeat(78)}: cursor `)
  return `subscription ($id: ID!) { sessionEvents(sessionId: $id) { ${fields.join('')}} }`
}

async function collectGarbage (inspectorPort: number): Promise<void> {
  const targets = await (await request(`http://127.0.0.1:${inspectorPort}/json/list`)).body.json() as Array<{ webSocketDebuggerUrl: string }>
  const socket = new WebSocket(targets[0]!.webSocketDebuggerUrl)
  await new Promise((resolve, reject) => { socket.once('open', resolve); socket.once('error', reject) })
  await new Promise<void>((resolve) => {
    socket.on('message', (data) => { if ((JSON.parse(String(data)) as { id?: number }).id === 1) resolve() })
    socket.send(JSON.stringify({ id: 1, method: 'HeapProfiler.collectGarbage' }))
  })
  socket.close()
}

async function settledRssMiB (pid: number, inspectorPort: number): Promise<number> {
  await sleep(2000)
  await collectGarbage(inspectorPort)
  await sleep(1000)
  return ((await rssKiB(pid)) ?? NaN) / 1024
}

async function openSubscriptions (url: string): Promise<number> {
  const text = await (await request(`${url}/metrics`)).body.text()
  const line = text.split('\n').find((l) => l.startsWith('gateway_graphql_open_subscriptions') && l.includes('session_events'))
  return Number(line?.split(' ').pop() ?? 0)
}

interface Connection { socket: WebSocket, messages: Array<{ type: string, id?: string, payload?: any }>, closed: Promise<number> }

async function connect (wsUrl: string, auth: Record<string, string>): Promise<Connection> {
  const socket = new WebSocket(wsUrl, 'graphql-transport-ws')
  const messages: Connection['messages'] = []
  const closed = new Promise<number>((resolve) => socket.on('close', resolve))
  socket.on('message', (data) => messages.push(JSON.parse(String(data))))
  socket.on('error', () => {})
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject))
  socket.send(JSON.stringify({ type: 'connection_init', payload: auth }))
  for (let i = 0; i < 500 && !messages.some(m => m.type === 'connection_ack') && socket.readyState === WebSocket.OPEN; i++) await sleep(10)
  return { socket, messages, closed }
}

async function main (): Promise<void> {
  buildDist()
  pinSelf()
  const sim = await startSimulator()
  const inspectorPort = await freePort()
  const gw = await startGateway(sim.url, {}, [`--inspect=127.0.0.1:${inspectorPort}`])
  const connections: Connection[] = []
  try {
    const auth = { authorization: `Bearer ${gw.key}`, 'x-user-id': 'bench' }
    const gql = async (query: string) => (await json(`${gw.url}/graphql`, { method: 'POST', headers: auth, body: { query } })).data
    const session = (await gql('mutation { createSession(title: "limits") { id } }')).createSession.id as string
    const query = document()
    const wsUrl = gw.url.replace(/^http/, 'ws') + '/graphql'
    const subscribe = (c: Connection, id: string) => c.socket.send(JSON.stringify({ id, type: 'subscribe', payload: { query, variables: { id: session } } }))

    // lazily built code first, so it is not counted per subscription
    const warm = await connect(wsUrl, auth)
    subscribe(warm, 'warm')
    while (await openSubscriptions(gw.url) !== 1) await sleep(50)
    warm.socket.close()
    await warm.closed
    while (await openSubscriptions(gw.url) !== 0) await sleep(50)

    const before = await settledRssMiB(gw.child.proc.pid!, inspectorPort)
    const started = performance.now()
    for (let i = 0; i < CONNECTIONS; i += BATCH) {
      const batch = await Promise.all(Array.from({ length: Math.min(BATCH, CONNECTIONS - i) }, async () => await connect(wsUrl, auth)))
      for (const [j, c] of batch.entries()) for (let s = 0; s < SUBSCRIPTIONS; s++) subscribe(c, `c${i + j}s${s}`)
      connections.push(...batch)
      const want = connections.length * SUBSCRIPTIONS
      for (let tries = 0; await openSubscriptions(gw.url) < want; tries++) {
        if (tries > 1200) {
          const errors = connections.flatMap(c => c.messages.filter(m => m.type === 'error')).slice(0, 2)
          throw new Error(`only ${await openSubscriptions(gw.url)} of ${want} subscriptions open; first errors: ${JSON.stringify(errors)}`)
        }
        await sleep(50)
      }
    }
    const openMs = performance.now() - started
    const open = await openSubscriptions(gw.url)
    const after = await settledRssMiB(gw.child.proc.pid!, inspectorPort)

    // one more of each must be refused
    const extra = await connect(wsUrl, auth)
    const extraClose = await Promise.race([extra.closed, sleep(5000).then(() => 'still open')])
    subscribe(connections[0]!, 'one-more')
    await sleep(500)
    const refusal = connections[0]!.messages.find(m => m.id === 'one-more')?.payload?.[0]?.extensions?.code ?? 'none'
    const refused = connections.reduce((n, c) => n + c.messages.filter(m => m.type === 'error').length, 0)

    const line = `${CONNECTIONS} connections x ${SUBSCRIPTIONS} subscriptions (${args.document} document, ${query.length} bytes): ` +
      `${open} open in ${(openMs / 1000).toFixed(1)} s; RSS ${before.toFixed(0)} -> ${after.toFixed(0)} MiB ` +
      `(+${(after - before).toFixed(0)} MiB, ${((after - before) * 1024 / Math.max(open, 1)).toFixed(1)} KiB per subscription); ` +
      `one more connection: close ${String(extraClose)}; one more subscription: ${refusal}; errors on the way: ${refused - (refusal === 'none' ? 0 : 1)}`
    process.stdout.write(line + '\n')
  } finally {
    for (const c of connections) c.socket.terminate()
    await stopGateway(gw)
    await stop(sim.child)
  }
}

await main()
