// Tenants, their API keys and their registered upstream tokens.
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox'
import { Type } from 'typebox'
import { withProblems } from '../../../schemas.ts'
import { TenantDeletionSchema } from '../../../deletions.ts'
import { ApiKeySchema, CredentialSchema, IssuedKeySchema, TenantSchema, TokenIssuerSchema } from '../schemas.ts'
import { SCOPES } from '../../../../domain/tenancy/index.ts'

const TenantParams = Type.Object({ tenantId: Type.String({ format: 'uuid' }) })
const TokenMode = Type.Union([Type.Literal('anonymous'), Type.Literal('registered')])
const AllowedOrigins = Type.Array(Type.String({ maxLength: 300 }), { maxItems: 50, description: 'Origins (scheme://host[:port]) whose browser pages may call the gateway with this tenant\'s client tokens' })
const KeyScopes = Type.Array(Type.Union([Type.Literal('*'), ...SCOPES.map(s => Type.Literal(s))]), { minItems: 1, description: 'What the key may do; default ["*"] (everything)' })

const tenants: FastifyPluginAsyncTypebox = async (fastify) => {
  const { tenants, apiKeys, tokenRegistry, deletions } = fastify.domain
  const tags = ['admin']

  fastify.post('/', {
    schema: {
      tags,
      operationId: 'createTenant',
      summary: 'Create a tenant',
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 63 }),
        tokenMode: Type.Optional(TokenMode),
        creditBudget: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
        allowedOrigins: Type.Optional(AllowedOrigins)
      }, { additionalProperties: false }),
      response: withProblems({ 201: TenantSchema })
    }
  }, async (request, reply) => await reply.code(201).send(await tenants.create(request.body)))

  fastify.get('/', {
    schema: { tags, operationId: 'listTenants', summary: 'List tenants', response: withProblems({ 200: Type.Object({ items: Type.Array(TenantSchema) }) }) }
  }, async () => ({ items: await tenants.list() }))

  fastify.get('/:tenantId', {
    schema: { tags, operationId: 'getTenant', summary: 'One tenant', params: TenantParams, response: withProblems({ 200: TenantSchema }) }
  }, async (request) => await tenants.get(request.params.tenantId))

  fastify.patch('/:tenantId', {
    schema: {
      tags,
      operationId: 'updateTenant',
      summary: 'Change a tenant\'s token mode, credit budget or allowed browser origins',
      params: TenantParams,
      body: Type.Object({
        tokenMode: Type.Optional(TokenMode),
        creditBudget: Type.Optional(Type.Union([Type.Integer({ minimum: 0 }), Type.Null()])),
        allowedOrigins: Type.Optional(AllowedOrigins)
      }, { additionalProperties: false, minProperties: 1 }),
      response: withProblems({ 200: TenantSchema })
    }
  }, async (request) => await tenants.update(request.params.tenantId, request.body))

  fastify.delete('/:tenantId', {
    schema: {
      tags,
      operationId: 'deleteTenant',
      summary: 'Delete a tenant and everything of it (idempotent: an unknown or already deleted tenant answers 200 with zero counts)',
      description: 'Cancels the tenant\'s active exports and running turns first, then removes its users\' data, its upstream tokens, webhook endpoints and messages, API keys, stored idempotent responses and mint ledger entries, then the tenant.',
      params: TenantParams,
      response: withProblems({ 200: TenantDeletionSchema })
    }
  }, async (request) => ({ deleted: await deletions.deleteTenant(request.params.tenantId) }))

  fastify.post('/:tenantId/keys', {
    schema: {
      tags,
      operationId: 'issueApiKey',
      summary: 'Issue an API key (shown once)',
      params: TenantParams,
      body: Type.Optional(Type.Object({
        name: Type.Optional(Type.String({ maxLength: 100 })),
        expiresAt: Type.Optional(Type.String({ format: 'date-time' })),
        scopes: Type.Optional(KeyScopes)
      }, { additionalProperties: false })),
      response: withProblems({ 201: IssuedKeySchema })
    }
  }, async (request, reply) => {
    const body = request.body ?? {}
    const key = await apiKeys.issue(request.params.tenantId, { name: body.name, expiresAt: body.expiresAt ? new Date(body.expiresAt) : null, scopes: body.scopes })
    return await reply.code(201).header('cache-control', 'no-store').send(key)
  })

  fastify.get('/:tenantId/keys', {
    schema: { tags, operationId: 'listApiKeys', summary: 'List a tenant\'s API keys (never the secrets)', params: TenantParams, response: withProblems({ 200: Type.Object({ items: Type.Array(ApiKeySchema) }) }) }
  }, async (request) => {
    await tenants.get(request.params.tenantId)
    return { items: await apiKeys.list(request.params.tenantId) }
  })

  fastify.post('/:tenantId/issuers', {
    schema: {
      tags,
      operationId: 'createTokenIssuer',
      summary: 'Accept tokens of the tenant\'s own identity provider as client tokens',
      description: 'The JWKS is fetched through the webhook egress rule (WEBHOOK_ALLOWED_CIDRS opens private addresses), cached per its Cache-Control, fetched again for an unknown kid at most once a minute.',
      params: TenantParams,
      body: Type.Object({
        issuer: Type.String({ minLength: 1, maxLength: 500, description: 'The tokens\' iss' }),
        jwksUrl: Type.String({ format: 'uri', maxLength: 2000 }),
        audience: Type.String({ minLength: 1, maxLength: 500, description: 'The aud the tokens must carry' }),
        userClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'The claim naming the user (default sub)' })),
        scopeClaim: Type.Optional(Type.String({ minLength: 1, maxLength: 100, description: 'A claim with the token\'s scopes; absent: the client token default' }))
      }, { additionalProperties: false }),
      response: withProblems({ 201: TokenIssuerSchema })
    }
  }, async (request, reply) => {
    const issuer = await fastify.domain.tokenIssuers.create(request.params.tenantId, request.body)
    fastify.domain.caches.changed({ kind: 'issuers' })
    return await reply.code(201).send(issuer)
  })

  fastify.get('/:tenantId/issuers', {
    schema: { tags, operationId: 'listTokenIssuers', summary: 'The tenant\'s token issuers', params: TenantParams, response: withProblems({ 200: Type.Object({ items: Type.Array(TokenIssuerSchema) }) }) }
  }, async (request) => {
    await tenants.get(request.params.tenantId)
    return { items: await fastify.domain.tokenIssuers.list(request.params.tenantId) }
  })

  fastify.delete('/:tenantId/issuers/:issuerId', {
    schema: {
      tags,
      operationId: 'removeTokenIssuer',
      summary: 'Stop accepting an issuer\'s tokens',
      params: Type.Object({ tenantId: Type.String({ format: 'uuid' }), issuerId: Type.String({ format: 'uuid' }) }),
      response: withProblems({ 204: Type.Null() })
    }
  }, async (request, reply) => {
    await fastify.domain.tokenIssuers.remove(request.params.tenantId, request.params.issuerId)
    fastify.domain.caches.changed({ kind: 'issuers' })
    return await reply.code(204).send(null)
  })

  fastify.post('/:tenantId/credentials', {
    schema: {
      tags,
      operationId: 'registerCredential',
      summary: 'Register an upstream token for the tenant\'s shared pool',
      params: TenantParams,
      body: Type.Object({
        token: Type.String({ minLength: 8, maxLength: 512 }),
        label: Type.Optional(Type.String({ maxLength: 100 })),
        expiresAt: Type.Optional(Type.String({ format: 'date-time' }))
      }, { additionalProperties: false }),
      response: withProblems({ 201: CredentialSchema })
    }
  }, async (request, reply) => {
    await tenants.get(request.params.tenantId)
    const { token, label, expiresAt } = request.body
    const view = await tokenRegistry.register(request.params.tenantId, { token, label, expiresAt: expiresAt ? new Date(expiresAt) : null })
    return await reply.code(201).send(view)
  })

  fastify.get('/:tenantId/credentials', {
    schema: { tags, operationId: 'listCredentials', summary: 'The tenant\'s upstream tokens and their states', params: TenantParams, response: withProblems({ 200: Type.Object({ items: Type.Array(CredentialSchema) }) }) }
  }, async (request) => {
    await tenants.get(request.params.tenantId)
    return { items: await tokenRegistry.list(request.params.tenantId) }
  })

  fastify.delete('/:tenantId/credentials/:credentialId', {
    schema: {
      tags,
      operationId: 'removeCredential',
      summary: 'Remove (revoke) an upstream token',
      params: Type.Object({ tenantId: Type.String({ format: 'uuid' }), credentialId: Type.String({ format: 'uuid' }) }),
      response: withProblems({ 200: CredentialSchema })
    }
  }, async (request) => await tokenRegistry.remove(request.params.tenantId, request.params.credentialId))
}

export default tenants
