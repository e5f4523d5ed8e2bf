// The only door into this context: other contexts and the app's faces import from here.
export { addUsage, NO_USER, Usage, type UsageCounts } from './usage.ts'
