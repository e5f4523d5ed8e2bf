// The only door into this context: other contexts and the app's faces import from here.
export * from './media-types.ts'
export * from './upload-meter.ts'
export * from './uploads.ts'
