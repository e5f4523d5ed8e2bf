// The webhook portal: a plain page over the gateway's own REST API. The link's token arrives in
// the URL's fragment (never sent to a server), is moved to this tab's sessionStorage and out of
// the address bar, and goes with every call as `Authorization: Bearer`. The token can only
// manage the tenant's webhooks and read its usage: the API enforces that, not this page.
'use strict'

const TOKEN_KEY = 'nemo-portal-token'
const $ = (id) => document.getElementById(id)

function takeToken () {
  const params = new URLSearchParams(window.location.hash.slice(1))
  const fromLink = params.get('token')
  if (fromLink) {
    sessionStorage.setItem(TOKEN_KEY, fromLink)
    window.history.replaceState(null, '', window.location.pathname)
  }
  return sessionStorage.getItem(TOKEN_KEY)
}

const token = takeToken()

class ApiError extends Error {
  constructor (status, problem) {
    super(problem.detail || problem.title || `HTTP ${status}`)
    this.status = status
    this.problem = problem
  }
}

async function api (method, path, body) {
  const headers = { authorization: `Bearer ${token}` }
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, { method, headers, body: body === undefined ? undefined : JSON.stringify(body), cache: 'no-store' })
  const text = await res.text()
  const data = text === '' ? null : JSON.parse(text)
  if (!res.ok) {
    if (res.status === 401) refuse(data && data.detail ? data.detail : 'The link is not valid.')
    throw new ApiError(res.status, data || {})
  }
  return data
}

/** Builds an element; children are nodes or text (never parsed as HTML). */
function el (tag, attrs, ...children) {
  const node = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (k === 'onclick') node.addEventListener('click', v)
    else if (v !== undefined && v !== null) node.setAttribute(k, v)
  }
  for (const c of children) if (c !== undefined && c !== null) node.append(c)
  return node
}

const when = (iso) => iso ? new Date(iso).toLocaleString() : ''

function notice (text, error) {
  const n = $('notice')
  n.textContent = text
  n.className = error ? 'error' : ''
  n.hidden = false
}

function refuse (detail) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = true
  document.querySelector('header nav').hidden = true
  $('notice').hidden = true
  $('refused-detail').textContent = detail
  $('refused').hidden = false
  document.body.dataset.state = 'refused'
}

function show (view) {
  for (const s of document.querySelectorAll('main > section')) s.hidden = s.id !== `view-${view}`
  for (const b of document.querySelectorAll('header nav button')) {
    if (b.dataset.view === view || (view === 'messages' && b.dataset.view === 'endpoints')) b.setAttribute('aria-current', 'page')
    else b.removeAttribute('aria-current')
  }
  document.body.dataset.view = view
}

async function guarded (fn) {
  try {
    await fn()
  } catch (err) {
    if (err instanceof ApiError && err.status === 401) return
    notice(err.message, true)
  }
}

// ---- endpoints ----

function endpointState (ep) {
  if (!ep.enabled) {
    return [el('span', { class: 'state disabled' }, 'disabled'), el('span', { class: 'reason' }, `${ep.disabledReason || 'disabled'}${ep.disabledAt ? ` (${when(ep.disabledAt)})` : ''}`)]
  }
  if (ep.failingSince) return [el('span', { class: 'state failing' }, 'failing'), el('span', { class: 'reason' }, `failing since ${when(ep.failingSince)}`)]
  return [el('span', { class: 'state enabled' }, 'enabled')]
}

async function loadEndpoints () {
  const page = await api('GET', '/v1/webhooks/endpoints?limit=100')
  const body = $('endpoints').tBodies[0]
  body.replaceChildren(...page.items.map((ep) => el('tr', { 'data-endpoint': ep.id },
    el('td', {}, ep.url, ep.description ? el('span', { class: 'muted' }, ` · ${ep.description}`) : null),
    el('td', {}, ep.events.length === 0 ? 'all' : ep.events.join(', ')),
    el('td', {}, ...endpointState(ep)),
    el('td', { class: 'actions' },
      el('button', { type: 'button', 'data-action': 'messages', onclick: () => guarded(() => openMessages(ep)) }, 'Messages'),
      el('button', { type: 'button', 'data-action': 'test', onclick: () => guarded(() => sendTest(ep)) }, 'Send test event'),
      el('button', { type: 'button', 'data-action': 'rotate', onclick: () => guarded(() => rotate(ep)) }, 'Rotate secret'))
  )))
  $('endpoints-empty').hidden = page.items.length > 0
  return page.items
}

async function sendTest (ep) {
  const msg = await api('POST', `/v1/webhooks/endpoints/${ep.id}/test`)
  notice(`Test event queued to ${ep.url} (${msg.webhookId}).`)
  document.body.dataset.lastTest = msg.id
}

async function rotate (ep) {
  const rotated = await api('POST', `/v1/webhooks/endpoints/${ep.id}/rotate-secret`, {})
  $('secret-value').textContent = rotated.secret
  $('secret-overlap').textContent = when(rotated.previousSecretExpiresAt)
  $('secret').hidden = false
  notice(`The secret of ${ep.url} was rotated.`)
}

// ---- messages ----

let current = null

async function openMessages (ep) {
  current = ep
  $('messages-url').textContent = ep.url
  $('attempts').hidden = true
  show('messages')
  await loadMessages()
}

async function loadMessages () {
  const page = await api('GET', `/v1/webhooks/endpoints/${current.id}/messages?limit=50`)
  const body = $('messages').tBodies[0]
  body.replaceChildren(...page.items.map((m) => el('tr', { 'data-message': m.id },
    el('td', {}, when(m.createdAt)),
    el('td', {}, m.eventType),
    el('td', {}, el('span', { class: `state ${m.status}` }, m.status)),
    el('td', {}, String(m.attempts)),
    el('td', { class: 'actions' },
      el('button', { type: 'button', 'data-action': 'attempts', onclick: () => guarded(() => loadAttempts(m.id)) }, 'Attempts'),
      el('button', { type: 'button', 'data-action': 'replay', onclick: () => guarded(() => replay(m)) }, 'Replay'))
  )))
  $('messages-empty').hidden = page.items.length > 0
}

async function loadAttempts (messageId) {
  const msg = await api('GET', `/v1/webhooks/messages/${messageId}`)
  $('attempts-id').textContent = msg.webhookId
  const body = $('attempts').querySelector('tbody')
  body.replaceChildren(...msg.attemptLog.map((a) => el('tr', {},
    el('td', {}, when(a.createdAt)),
    el('td', {}, a.trigger),
    el('td', {}, a.statusCode === null ? '-' : String(a.statusCode)),
    el('td', {}, a.latencyMs === null ? '-' : `${a.latencyMs} ms`),
    el('td', {}, a.error ? el('span', { class: 'reason' }, a.error) : el('code', { class: 'body' }, (a.responseBody || '').slice(0, 200)))
  )))
  $('attempts').hidden = false
}

async function replay (m) {
  const attempt = await api('POST', `/v1/webhooks/messages/${m.id}/replay`)
  notice(`Replayed ${m.webhookId}: ${attempt.statusCode === null ? attempt.error : `HTTP ${attempt.statusCode} in ${attempt.latencyMs} ms`}.`)
  await loadMessages()
  await loadAttempts(m.id)
}

async function recover (event) {
  event.preventDefault()
  const since = new Date($('recover-since').value)
  const { recovered } = await api('POST', `/v1/webhooks/endpoints/${current.id}/recover`, { since: since.toISOString() })
  notice(`${recovered} failed message(s) since ${since.toLocaleString()} will be sent again.`)
  await loadMessages()
}

// ---- usage ----

const SVG = 'http://www.w3.org/2000/svg'
function svg (tag, attrs, text) {
  const node = document.createElementNS(SVG, tag)
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v))
  if (text !== undefined) node.textContent = text
  return node
}

function days (from, to) {
  const out = []
  for (let d = new Date(`${from}T00:00:00Z`); d <= new Date(`${to}T00:00:00Z`); d.setUTCDate(d.getUTCDate() + 1)) out.push(d.toISOString().slice(0, 10))
  return out
}

function chart (usage) {
  const byDay = new Map(usage.rows.map((r) => [r.day, r]))
  const all = days(usage.from, usage.to)
  const values = all.map((d) => byDay.get(d)?.creditsSpent ?? 0)
  const max = Math.max(1, ...values)
  const W = 720; const H = 200; const left = 40; const bottom = 24; const top = 10
  const bw = (W - left) / all.length
  const root = svg('svg', { viewBox: `0 0 ${W} ${H}`, width: '100%', role: 'img', 'aria-label': 'Credits spent per day' })
  root.append(svg('line', { class: 'axis', x1: left, y1: H - bottom, x2: W, y2: H - bottom }))
  root.append(svg('text', { x: left - 6, y: top + 8, 'text-anchor': 'end' }, String(max)))
  root.append(svg('text', { x: left - 6, y: H - bottom, 'text-anchor': 'end' }, '0'))
  all.forEach((day, i) => {
    const h = (values[i] / max) * (H - bottom - top)
    const bar = svg('rect', { class: 'bar', x: left + i * bw + 1, y: H - bottom - h, width: Math.max(1, bw - 2), height: h, 'data-day': day, 'data-credits': values[i] })
    bar.append(svg('title', {}, `${day}: ${values[i]} credits`))
    root.append(bar)
    const last = i === all.length - 1
    if (last || (i % 7 === 0 && all.length - 1 - i >= 4)) root.append(svg('text', { x: last ? W : left + i * bw + bw / 2, y: H - 8, 'text-anchor': last ? 'end' : 'middle' }, day.slice(5)))
  })
  return root
}

async function loadUsage () {
  const usage = await api('GET', '/v1/usage?groupBy=day')
  $('usage-range').textContent = `${usage.from} to ${usage.to}: ${usage.totals.creditsSpent} credits, ${usage.totals.turns} turns, ${usage.totals.exports.completed} exports`
  $('usage-chart').replaceChildren(chart(usage))
  $('usage-table').tBodies[0].replaceChildren(...usage.rows.slice().reverse().map((r) => el('tr', { 'data-day': r.day },
    el('td', {}, r.day),
    el('td', {}, String(r.creditsSpent)),
    el('td', {}, String(r.turns)),
    el('td', {}, `${r.uploads.count}`),
    el('td', {}, `${r.exports.completed} / ${r.exports.failed}`),
    el('td', {}, `${r.webhookDeliveries.delivered} / ${r.webhookDeliveries.failed}`)
  )))
}

// ---- start ----

function expiryOf (jwt) {
  try {
    const payload = JSON.parse(atob(jwt.split('.')[1].replace(/-/g, '+').replace(/_/g, '/')))
    return new Date(payload.exp * 1000)
  } catch {
    return null
  }
}

async function start () {
  if (!token) return refuse('This page opens from a portal link; this one carries no token.')
  const exp = expiryOf(token)
  if (exp) $('expiry').textContent = `Link valid until ${exp.toLocaleString()}`
  for (const b of document.querySelectorAll('header nav button')) {
    b.addEventListener('click', () => guarded(async () => {
      $('notice').hidden = true
      show(b.dataset.view)
      if (b.dataset.view === 'usage') await loadUsage()
      else await loadEndpoints()
    }))
  }
  $('back').addEventListener('click', () => guarded(async () => { show('endpoints'); await loadEndpoints() }))
  $('secret-done').addEventListener('click', () => { $('secret-value').textContent = ''; $('secret').hidden = true })
  $('recover').addEventListener('submit', (e) => guarded(() => recover(e)))
  const since = new Date(Date.now() - 24 * 3600_000)
  $('recover-since').value = new Date(since.getTime() - since.getTimezoneOffset() * 60_000).toISOString().slice(0, 16)
  await guarded(async () => {
    await loadEndpoints()
    show('endpoints')
    document.body.dataset.state = 'ready'
  })
}

start()
