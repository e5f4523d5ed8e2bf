import { Type, type TSchema } from 'typebox'
import { DateTime } from '../../schemas.ts'

const Nullable = <T extends TSchema>(t: T) => Type.Union([t, Type.Null()])

export const TenantSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  name: Type.String(),
  tokenMode: Type.Union([Type.Literal('anonymous'), Type.Literal('registered')]),
  creditBudget: Type.Union([Type.Integer(), Type.Null()]),
  creditsSpent: Type.Integer(),
  allowedOrigins: Type.Array(Type.String(), { description: 'Browser origins whose pages may call the gateway with this tenant\'s client tokens' }),
  createdAt: DateTime
}, { $id: 'Tenant' })

export const TokenIssuerSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  tenantId: Type.String({ format: 'uuid' }),
  issuer: Type.String(),
  jwksUrl: Type.String(),
  audience: Type.String(),
  userClaim: Type.String(),
  scopeClaim: Nullable(Type.String()),
  createdAt: DateTime
}, { $id: 'TokenIssuer' })

export const ApiKeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  keyId: Type.String(),
  tenantId: Type.String({ format: 'uuid' }),
  name: Nullable(Type.String()),
  scopes: Type.Array(Type.String()),
  createdAt: DateTime,
  expiresAt: Nullable(DateTime),
  revokedAt: Nullable(DateTime),
  lastUsedAt: Nullable(DateTime),
  rotatedToId: Nullable(Type.String())
}, { $id: 'ApiKey' })

export const IssuedKeySchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  keyId: Type.String(),
  tenantId: Type.String({ format: 'uuid' }),
  name: Nullable(Type.String()),
  scopes: Type.Array(Type.String()),
  key: Type.String({ description: 'The full API key. Shown once: store it now.' }),
  expiresAt: Nullable(DateTime),
  createdAt: DateTime
}, { $id: 'IssuedKey' })

export const CredentialSchema = Type.Object({
  id: Type.String({ format: 'uuid' }),
  tenantId: Type.String({ format: 'uuid' }),
  userId: Nullable(Type.String()),
  kind: Type.Union([Type.Literal('anonymous'), Type.Literal('registered')]),
  label: Nullable(Type.String()),
  state: Type.String(),
  stateReason: Nullable(Type.String()),
  upstreamUserId: Nullable(Type.String()),
  expiresAt: Nullable(DateTime),
  retryAfter: Nullable(DateTime),
  createdAt: DateTime,
  sessions: Type.Optional(Type.Integer())
}, { $id: 'Credential' })
