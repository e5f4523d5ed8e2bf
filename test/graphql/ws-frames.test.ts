// A frame built once and written to a WebSocket's TCP socket arrives as the same text message
// ws' own `send` would have sent, whatever its length (the three length encodings), and in order
// with what ws sends itself; where ws would transform frames (permessage-deflate), nothing is
// written around it.
import t, { type Test } from 'tap'
import { once } from 'node:events'
import type { AddressInfo } from 'node:net'
import WebSocket, { WebSocketServer } from 'ws'
import { directStream, frameMessage, senderIdle, textFrame, type FramedSocket } from '../../src/graphql/ws-frames.ts'

async function pair (t: Test, perMessageDeflate: boolean): Promise<{ server: WebSocket, client: WebSocket }> {
  const wss = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate })
  t.teardown(() => { for (const c of wss.clients) c.terminate(); wss.close() })
  await once(wss, 'listening')
  const client = new WebSocket(`ws://127.0.0.1:${(wss.address() as AddressInfo).port}`, { perMessageDeflate })
  const [[server]] = await Promise.all([once(wss, 'connection') as Promise<[WebSocket]>, once(client, 'open')])
  t.teardown(() => client.terminate())
  return { server, client }
}

function messages (client: WebSocket, count: number): Promise<Array<{ text: string, binary: boolean }>> {
  const seen: Array<{ text: string, binary: boolean }> = []
  return new Promise((resolve) => {
    client.on('message', (data: Buffer, binary: boolean) => {
      seen.push({ text: data.toString(), binary })
      if (seen.length === count) resolve(seen)
    })
  })
}

t.test('a prebuilt frame arrives as the text message, at every length, in order with ws\' own sends', async (t) => {
  const { server, client } = await pair(t, false)
  const socket = server as unknown as FramedSocket
  const raw = directStream(socket)
  t.ok(raw, 'a server WebSocket without extensions is written to directly')
  t.ok(senderIdle(socket))
  const texts = ['{"short":"é"}', `{"medium":"${'x'.repeat(1_000)}"}`, `{"long":"${'y'.repeat(70_000)}"}`]
  const received = messages(client, texts.length + 1)
  for (const [i, text] of texts.entries()) {
    const frame = textFrame(Buffer.from(text.slice(0, 3)), Buffer.from(text.slice(3)))
    t.equal(frameMessage(frame).toString(), text, 'the message of the frame is the text')
    raw!.write(frame)
    if (i === 0) server.send('between', { binary: false })
  }
  t.same(await received, [
    { text: texts[0], binary: false },
    { text: 'between', binary: false },
    { text: texts[1], binary: false },
    { text: texts[2], binary: false }
  ])
})

t.test('with permessage-deflate, frames go through send', async (t) => {
  const { server, client } = await pair(t, true)
  const socket = server as unknown as FramedSocket
  t.equal(socket.extensions, 'permessage-deflate')
  t.equal(directStream(socket), undefined)
  const received = messages(client, 1)
  const text = `{"compressed":"${'z'.repeat(2_000)}"}`
  server.send(frameMessage(textFrame(Buffer.from(text))), { binary: false })
  t.same(await received, [{ text, binary: false }])
})

t.test('a client WebSocket is never written to directly (its frames must be masked)', async (t) => {
  const { client } = await pair(t, false)
  t.equal(directStream(client as unknown as FramedSocket), undefined)
})
