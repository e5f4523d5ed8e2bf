export { GatewayClient, type ClientOptions } from './client.ts'
export { GatewayProblem } from './problem.ts'
export { verifyWebhook, WebhookVerificationError, type VerifyOptions } from './webhooks.ts'
export * from './generated.ts'
