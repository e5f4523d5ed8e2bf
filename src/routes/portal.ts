// The webhook portal page: plain HTML, one stylesheet and one script from public/portal/ (no
// build step), read once at start. The page talks to /v1 with the link's token, so the API's
// walls are its walls. The headers keep it to itself: scripts, styles and calls from this
// origin only (no inline script), no referrer, no framing, nothing cached.
import { readFile } from 'node:fs/promises'
import type { FastifyPluginAsync } from 'fastify'

// src/routes and dist/routes are both two floors below the package root
const PUBLIC_DIR = new URL('../../public/portal/', import.meta.url)

const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'referrer-policy': 'no-referrer',
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'cross-origin-opener-policy': 'same-origin',
  'cache-control': 'no-store'
}

const FILES = [
  { url: '/portal', file: 'index.html', type: 'text/html; charset=utf-8' },
  { url: '/portal/portal.js', file: 'portal.js', type: 'text/javascript; charset=utf-8' },
  { url: '/portal/portal.css', file: 'portal.css', type: 'text/css; charset=utf-8' },
  { url: '/portal/icon.svg', file: 'icon.svg', type: 'image/svg+xml' }
]

const portalPage: FastifyPluginAsync = async (fastify) => {
  for (const { url, file, type } of FILES) {
    const body = await readFile(new URL(file, PUBLIC_DIR))
    fastify.get(url, { schema: { hide: true } }, async (_request, reply) => await reply.headers(SECURITY_HEADERS).type(type).send(body))
  }
}

export default portalPage
