// The only door into this context: other contexts and the app's faces import from here.
export * from './sessions.ts'
export * from './timeline.ts'
