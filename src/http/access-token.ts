// `?access_token=` on an event stream: EventSource cannot send an Authorization header, so a
// browser passes its client token in the URL. The token is taken out of the URL before the
// router sees it (Fastify's `rewriteUrl`, src/options.ts), so no log line, span or error
// that quotes the URL ever holds it; the auth plugin reads it from here.
import type { IncomingMessage } from 'node:http'

const kAccessToken = Symbol.for('nemo-gateway.access-token')

type WithToken = IncomingMessage & { [kAccessToken]?: string, originalUrl?: string }

/** The URL without `access_token`; the token is kept on the request for `accessTokenOf`. */
export function takeAccessToken (req: IncomingMessage): string {
  const url = req.url ?? '/'
  const q = url.indexOf('?')
  if (q === -1 || !url.includes('access_token', q)) return url
  const params = new URLSearchParams(url.slice(q + 1))
  const token = params.get('access_token')
  params.delete('access_token')
  if (token !== null && token !== '') (req as WithToken)[kAccessToken] = token
  const rest = params.toString()
  const rewritten = url.slice(0, q) + (rest === '' ? '' : `?${rest}`)
  // Fastify keeps the URL as it came in here: it must not hold the token either
  ;(req as WithToken).originalUrl = rewritten
  return rewritten
}

export function accessTokenOf (req: IncomingMessage): string | undefined {
  return (req as WithToken)[kAccessToken]
}
