// The only door into this context: other contexts and the app's faces import from here.
export * from './events.ts'
export * from './session-tail.ts'
