// The only door into this context: other contexts and the app's faces import from here.
export * from './bus.ts'
export * from './cache-sync.ts'
export * from './cursor.ts'
export * from './deps.ts'
export * from './rate-limiter.ts'
export * from './ttl-cache.ts'
