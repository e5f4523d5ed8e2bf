// The only door into this context: other contexts and the app's faces import from here.
export * from './api-keys.ts'
export * from './deletions.ts'
export * from './tenants.ts'
export * from './users.ts'
