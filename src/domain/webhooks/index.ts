// The only door into this context: other contexts and the app's faces import from here.
export * from './egress-fetch.ts'
export * from './egress-guard.ts'
export * from './webhook-delivery.ts'
export * from './webhooks.ts'
