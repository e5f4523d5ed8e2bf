// The only door into this context: other contexts and the app's faces import from here.
export * from './credential-state.ts'
export * from './credentials.ts'
export * from './credits.ts'
export * from './gauges.ts'
export * from './mint.ts'
export * from './registry.ts'
