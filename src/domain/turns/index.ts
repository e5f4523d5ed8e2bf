// The only door into this context: other contexts and the app's faces import from here.
export * from './say.ts'
export * from './turn-runner.ts'
export * from './turns.ts'
