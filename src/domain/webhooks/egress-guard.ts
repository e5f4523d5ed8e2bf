// Webhook receivers are URLs a tenant chooses, so a delivery must never reach the gateway's
// own network: loopback, private, link-local, CGNAT, multicast and other non-public addresses
// are refused unless an operator allows their CIDR (WEBHOOK_ALLOWED_CIDRS). The check runs on
// the resolved address at connect time (a DNS answer that changes after the URL was accepted
// cannot slip through) and redirects are never followed.
import { lookup as dnsLookup, type LookupAddress, type LookupOptions } from 'node:dns'
import { isIP } from 'node:net'
import ipaddr from 'ipaddr.js'

type Addr = ipaddr.IPv4 | ipaddr.IPv6
type Cidr = [Addr, number]

/**
 * IPv4-compatible IPv6 (`::a.b.c.d`, RFC 4291 §2.5.5.1, deprecated): ipaddr.js calls these
 * unicast, but a stack may route them to the embedded IPv4 address (`[::127.0.0.1]`).
 */
const IPV4_COMPATIBLE = ipaddr.parseCIDR('::/96')

export class EgressGuard {
  private readonly allowed: Cidr[]

  constructor (allowedCidrs: string) {
    this.allowed = allowedCidrs.split(',').map(s => s.trim()).filter(s => s !== '').map((c) => {
      try {
        return ipaddr.parseCIDR(c)
      } catch {
        throw new Error(`WEBHOOK_ALLOWED_CIDRS: "${c}" is not a CIDR (e.g. 10.0.0.0/8)`)
      }
    })
  }

  /** Why an address may not be called, or null when it may. */
  refusal (address: string): string | null {
    const why = this.publicRefusal(address)
    if (why === null) return null
    let addr: Addr
    try {
      addr = ipaddr.process(address)
    } catch {
      return why
    }
    if (this.allowed.some(([net, bits]) => net.kind() === addr.kind() && addr.match(net, bits))) return null
    return why
  }

  /** Why an address is not a public one, or null when it is (the allow list aside). */
  private publicRefusal (address: string): string | null {
    let addr: Addr
    let raw: Addr
    try {
      raw = ipaddr.parse(address)
      addr = ipaddr.process(address)
    } catch {
      return `${address} is not an IP address`
    }
    // ipaddr.js reads `::8.8.8.8` as `::ffff:8.8.8.8`: the dotted form is checked by its text
    const dotted = /^(?:0{0,4}:){1,6}:?(?:\d{1,3}\.){3}\d{1,3}$/i.test(address) && !/ffff:/i.test(address)
    const compatible = dotted || (raw.kind() === 'ipv6' && raw.match(IPV4_COMPATIBLE) && !['loopback', 'unspecified'].includes(raw.range()))
    const range = compatible ? 'IPv4-compatible IPv6 (::/96)' : addr.range()
    if (range === 'unicast') return null
    return `${address} is ${/^[aeiouI]/.test(range) ? 'an' : 'a'} ${range} address; receivers must be public (or allowed by WEBHOOK_ALLOWED_CIDRS)`
  }

  /**
   * For a URL whose host is an IP address (net.connect does no lookup for those): why it may
   * not be called, or null. A host name is checked by `lookup` when the connection is made.
   */
  literalRefusal (url: URL): string | null {
    const host = url.hostname.replace(/^\[|\]$/g, '')
    return isIP(host) === 0 ? null : this.refusal(host)
  }

  /**
   * Whether a URL reaches an address that is not public (one an operator allowed through
   * WEBHOOK_ALLOWED_CIDRS): what such a receiver answers is kept out of the attempt log.
   */
  async isInternal (url: URL): Promise<boolean> {
    if (this.allowed.length === 0) return false
    const host = url.hostname.replace(/^\[|\]$/g, '')
    const addresses = isIP(host) !== 0
      ? [host]
      : (await new Promise<LookupAddress[]>((resolve, reject) => dnsLookup(host, { all: true }, (err, a) => err ? reject(err) : resolve(a)))).map(a => a.address)
    return addresses.some(a => this.publicRefusal(a) !== null)
  }

  /** Resolves a URL's host and says why it may not be called, or null when it may. */
  async check (url: URL): Promise<string | null> {
    const host = url.hostname.replace(/^\[|\]$/g, '')
    if (isIP(host) !== 0) return this.refusal(host)
    let addresses: LookupAddress[]
    try {
      addresses = await new Promise((resolve, reject) => dnsLookup(host, { all: true }, (err, a) => err ? reject(err) : resolve(a)))
    } catch {
      return `${host} does not resolve`
    }
    for (const a of addresses) {
      const why = this.refusal(a.address)
      if (why !== null) return `${host} resolves to ${why}`
    }
    return null
  }

  /** A `lookup` for net.connect that fails on any refused address. */
  lookup = (hostname: string, options: LookupOptions, callback: (err: NodeJS.ErrnoException | null, address: string | LookupAddress[], family?: number) => void): void => {
    dnsLookup(hostname, { ...options, all: true }, (err, addresses) => {
      if (err) return callback(err, options.all === true ? [] : '')
      for (const a of addresses) {
        const why = this.refusal(a.address)
        if (why !== null) return callback(Object.assign(new Error(`refused: ${hostname} resolves to ${why}`), { code: 'EGRESS_REFUSED' }), options.all === true ? [] : '')
      }
      if (options.all === true) return callback(null, addresses)
      const first = addresses[0]
      if (!first) return callback(Object.assign(new Error(`${hostname} does not resolve`), { code: 'ENOTFOUND' }), '')
      callback(null, first.address, first.family)
    })
  }
}
