// The only door into this context: other contexts and the app's faces import from here.
export { Exports } from './exports.ts'
export { EXPORT_ARCHIVE_QUEUE, EXPORT_ARCHIVE_QUEUE_OPTIONS, EXPORT_POLL_QUEUE, EXPORT_POLL_QUEUE_OPTIONS, type ExportQuality, type ExportStatus, type ExportView } from './model.ts'
