// A minimal text/event-stream reader (WHATWG rules for id, event, data and comments).
export interface SseFrame { id?: string, event?: string, data: string }

export async function * readSse (res: Response): AsyncGenerator<SseFrame> {
  if (res.body === null) return
  const decoder = new TextDecoder()
  let buffer = ''
  let frame: SseFrame = { data: '' }
  let data: string[] = []
  const reader = res.body.getReader()
  try {
    for (;;) {
      const { done, value } = await reader.read()
      if (done) return
      buffer += decoder.decode(value, { stream: true })
      let nl: number
      while ((nl = buffer.search(/\r\n|\r|\n/)) >= 0) {
        const line = buffer.slice(0, nl)
        buffer = buffer.slice(nl + (buffer.startsWith('\r\n', nl) ? 2 : 1))
        if (line === '') {
          if (data.length > 0) yield { ...frame, data: data.join('\n') }
          frame = { data: '' }
          data = []
          continue
        }
        if (line.startsWith(':')) continue
        const colon = line.indexOf(':')
        const field = colon < 0 ? line : line.slice(0, colon)
        const value = colon < 0 ? '' : line.slice(colon + 1).replace(/^ /, '')
        if (field === 'data') data.push(value)
        else if (field === 'event') frame.event = value
        else if (field === 'id') frame.id = value
      }
    }
  } finally {
    await reader.cancel().catch(() => {})
  }
}
