// What `say` answers: one schema per action, discriminated by `action`, shared (addSchema) so
// the document names each and a generated client reads each answer without a cast. The
// resources inside are copies without their $id (the routes that answer them own those).
import { Type } from 'typebox'
import { CreditsSchema } from './credits.ts'
import { ExportSchema } from './export.ts'
import { TimelineSchema } from './timeline.ts'
import { TurnSchema } from './turn.ts'

const message = Type.String({ description: 'One line for a person: what was done and what to do next' })

// one schema per action, discriminated by `action`, so a generated client reads each without a cast
export const SAY_RESULT_SCHEMAS = [
  Type.Object({ action: Type.Literal('export'), message, exportable: Type.Boolean(), summary: Type.String(), export: Type.Object(ExportSchema.properties) }, { $id: 'SayExport', description: 'An export was started (202)' }),
  Type.Object({ action: Type.Literal('credits'), message, credits: CreditsSchema }, { $id: 'SayCredits', description: 'The user\'s credits' }),
  Type.Object({ action: Type.Literal('state'), message, state: Type.Object(TimelineSchema.properties) }, { $id: 'SayState', description: 'The timeline and its summary' }),
  Type.Object({
    action: Type.Literal('upload'),
    message,
    upload: Type.Object({ method: Type.Literal('POST'), path: Type.String(), accepted: Type.String(), maxBytes: Type.Integer() })
  }, { $id: 'SayUpload', description: 'How to upload files' }),
  Type.Object({ action: Type.Literal('chat'), message, turn: Type.Object(TurnSchema.properties) }, { $id: 'SayChat', description: 'A chat turn was started: follow the session\'s events' })
]

export const SayResultSchema = Type.Unsafe<unknown>({
  oneOf: SAY_RESULT_SCHEMAS.map((s) => ({ $ref: `${String((s as { $id?: string }).$id)}#` })),
  $id: 'SayResult',
  description: 'What a sentence did, by `action`',
  discriminator: { propertyName: 'action', mapping: Object.fromEntries(SAY_RESULT_SCHEMAS.map((s) => [(s.properties as { action: { const: string } }).action.const, `#/components/schemas/${String((s as { $id?: string }).$id)}`])) }
})
