// The only door into this context: other contexts and the app's faces import from here.
export { Retention, PRUNED_TABLES, RETENTION_QUEUE, RETENTION_QUEUE_OPTIONS, type PruneReport, type PrunedTable } from './retention.ts'
