// What a credential may do. One list, one rule: REST routes name the scope they need in their
// route config, GraphQL fields in the SDL (`@scope`), and both ask `requireScope` here.
// API keys hold `*` unless created narrower; client tokens (a browser's or an app's) hold
// read-and-follow scopes unless minted with more, and never the tenant-wide ones.
import { gwError, type GatewayError } from '../../errors.ts'

export const SCOPES = [
  'sessions:read', 'sessions:write',
  'turns:write',
  'events:read',
  'uploads:write',
  'exports:read', 'exports:write',
  'credits:read',
  'usage:read',
  'webhooks:manage',
  'users:manage',
  'client-tokens:create'
] as const

export type Scope = typeof SCOPES[number]

/** Everything: the default of an API key. */
const ALL_SCOPES = '*'

/** A client token minted without `scopes`: read and follow, no writes. */
export const CLIENT_DEFAULT_SCOPES: readonly Scope[] = ['sessions:read', 'events:read', 'exports:read', 'credits:read']

/** Tenant-wide powers a client token can never hold, whatever its minter asks for. */
const TENANT_ONLY: ReadonlySet<Scope> = new Set<Scope>(['webhooks:manage', 'users:manage', 'client-tokens:create'])

const KNOWN: ReadonlySet<string> = new Set(SCOPES)

/** A credential's granted scopes: `*` or a set. */
export type Grant = typeof ALL_SCOPES | ReadonlySet<string>

export function grantOf (scopes: readonly string[]): Grant {
  return scopes.includes(ALL_SCOPES) ? ALL_SCOPES : new Set(scopes)
}

/** Whether the grant holds the scope. */
export function grants (grant: Grant, scope: Scope): boolean {
  return grant === ALL_SCOPES || grant.has(scope)
}

/** The one answer to a missing scope: 403 naming it. */
function scopeError (scope: Scope): GatewayError {
  return gwError('GW_ERR_SCOPE_REQUIRED', `This credential lacks the "${scope}" scope`, { extensions: { scope } })
}

export function requireScope (grant: Grant, scope: Scope): void {
  if (!grants(grant, scope)) throw scopeError(scope)
}

/** API key scopes as given at creation: `*` or known names (400 naming an unknown one). */
export function apiKeyScopes (scopes: readonly string[] | undefined): string[] {
  if (scopes === undefined || scopes.length === 0) return [ALL_SCOPES]
  if (scopes.includes(ALL_SCOPES)) return [ALL_SCOPES]
  return checkKnown(scopes)
}

/**
 * A client token's scopes: the default, or what was asked for, which must be known, not
 * tenant-wide, and held by the minting key itself (a read-only key mints read-only tokens).
 */
export function clientTokenScopes (asked: readonly string[] | undefined, minter: Grant): Scope[] {
  const scopes = asked === undefined ? [...CLIENT_DEFAULT_SCOPES] : checkKnown(asked)
  for (const scope of scopes) {
    if (TENANT_ONLY.has(scope)) throw gwError('GW_ERR_VALIDATION', `"${scope}" is tenant-wide and is never granted to a client token`, { extensions: { errors: [{ in: 'body', path: '/scopes', message: `${scope} is not grantable` }] } })
    if (!grants(minter, scope)) throw scopeError(scope)
  }
  return scopes
}

/** Scopes from a foreign token's claim, unknown and tenant-wide ones dropped. */
export function foreignScopes (claim: unknown): Scope[] {
  const list = typeof claim === 'string' ? claim.split(/\s+/) : Array.isArray(claim) ? claim.filter((s): s is string => typeof s === 'string') : null
  if (list === null) return [...CLIENT_DEFAULT_SCOPES]
  return [...new Set(list)].filter((s): s is Scope => KNOWN.has(s) && !TENANT_ONLY.has(s as Scope))
}

function checkKnown (scopes: readonly string[]): Scope[] {
  for (const s of scopes) {
    if (!KNOWN.has(s)) {
      throw gwError('GW_ERR_VALIDATION', `Unknown scope "${s}"; the scopes are ${SCOPES.join(', ')}`, { extensions: { errors: [{ in: 'body', path: '/scopes', message: `unknown scope ${s}` }] } })
    }
  }
  return [...new Set(scopes)] as Scope[]
}
