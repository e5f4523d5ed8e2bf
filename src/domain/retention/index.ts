// The only door into this context: other contexts and the app's faces import from here.
export { Retention, RETENTION_QUEUE, RETENTION_QUEUE_OPTIONS } from './retention.ts'
