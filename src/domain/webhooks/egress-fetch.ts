// A small GET for documents a tenant points the gateway at (an identity provider's JWKS),
// under the same egress rule as webhook deliveries: the address is checked when the
// connection is made (no private or loopback address unless WEBHOOK_ALLOWED_CIDRS opens it),
// redirects are not followed, and the body is bounded in size and time.
import { request as httpRequest, type IncomingMessage } from 'node:http'
import { request as httpsRequest } from 'node:https'
import type { EgressGuard } from './egress-guard.ts'

export interface FetchedDocument {
  status: number
  body: string
  cacheControl: string | undefined
}

class EgressRefused extends Error {
  readonly code = 'EGRESS_REFUSED'
}

export async function guardedGet (url: URL, guard: EgressGuard, opts: { timeoutMs: number, maxBytes: number }): Promise<FetchedDocument> {
  const literal = guard.literalRefusal(url)
  if (literal !== null) throw new EgressRefused(`refused: ${literal}`)
  const request = url.protocol === 'https:' ? httpsRequest : httpRequest
  return await new Promise<FetchedDocument>((resolve, reject) => {
    const req = request(url, { method: 'GET', lookup: guard.lookup, timeout: opts.timeoutMs, headers: { accept: 'application/json' } }, (res: IncomingMessage) => {
      const chunks: Buffer[] = []
      let size = 0
      res.on('data', (chunk: Buffer) => {
        size += chunk.length
        if (size > opts.maxBytes) {
          req.destroy(new Error(`the document is larger than ${opts.maxBytes} bytes`))
          return
        }
        chunks.push(chunk)
      })
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8'), cacheControl: res.headers['cache-control'] }))
      res.on('error', reject)
    })
    const deadline = setTimeout(() => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)), opts.timeoutMs)
    req.on('close', () => clearTimeout(deadline))
    req.on('timeout', () => req.destroy(new Error(`no answer within ${opts.timeoutMs} ms`)))
    req.on('error', (err: NodeJS.ErrnoException) => reject(err.code === 'EGRESS_REFUSED' ? new EgressRefused(err.message) : err))
    req.end()
  })
}
