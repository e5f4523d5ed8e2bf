// What a tenant or one of its users used, per day or per user: the query REST validates, and the
// answer REST serializes, OpenAPI publishes and the domain's view type is Static<> of.
import { Type, type Static } from 'typebox'

const Day = Type.String({ format: 'date', description: 'A UTC day, YYYY-MM-DD' })

export const UsageQuerySchema = Type.Object({
  from: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'First UTC day (YYYY-MM-DD), included; default: 29 days before `to`' })),
  to: Type.Optional(Type.String({ pattern: '^[0-9]{4}-[0-9]{2}-[0-9]{2}$', description: 'Last UTC day (YYYY-MM-DD), included; default: today. At most 366 days from `from`' })),
  groupBy: Type.Optional(Type.Union([Type.Literal('day'), Type.Literal('user')], { default: 'day', description: 'One row per day (default) or per end user' }))
})

const Counts = {
  creditsSpent: Type.Integer({ description: 'Upstream credits spent: what the balance dropped by across actions (turns, exports), read before and after each' }),
  turns: Type.Integer({ description: 'Chat turns started' }),
  uploads: Type.Object({ count: Type.Integer(), bytes: Type.Integer() }, { description: 'Files uploaded, and their bytes' }),
  exports: Type.Object({ completed: Type.Integer(), failed: Type.Integer(), cancelled: Type.Integer() }, { description: 'Exports that ended, by outcome' }),
  webhookDeliveries: Type.Object({ delivered: Type.Integer(), failed: Type.Integer() }, {
    description: 'Webhook messages that reached that outcome (the tenant\'s, in a tenant-wide answer only)'
  })
}

const UsageCountsSchema = Type.Object(Counts)

const UsageRowSchema = Type.Object({
  day: Type.Optional(Day),
  userId: Type.Optional(Type.Union([Type.String(), Type.Null()], { description: 'groupBy=user: the end user\'s own id (X-User-Id); null for what belongs to no user (webhook deliveries) or to an erased user' })),
  ...Counts
})

export const UsageSchema = Type.Object({
  scope: Type.Union([Type.Literal('tenant'), Type.Literal('user')], { description: 'user: the X-User-Id of the request; tenant: the whole tenant (no X-User-Id sent)' }),
  userId: Type.Union([Type.String(), Type.Null()], { description: 'The end user of a user-scoped answer' }),
  from: Day,
  to: Day,
  groupBy: Type.Union([Type.Literal('day'), Type.Literal('user')]),
  totals: UsageCountsSchema,
  rows: Type.Array(UsageRowSchema, { description: 'Days or users with any usage, in order; a day with none is left out' })
})

export type UsageQuery = Static<typeof UsageQuerySchema>
export type UsageView = Static<typeof UsageSchema>
export type UsageRow = Static<typeof UsageRowSchema>
