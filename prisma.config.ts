// Prisma CLI config. Only `prisma generate` runs here (see src/db/migrate.ts for migrations);
// the URL is read by the CLI only, never by the gateway.
import { defineConfig } from 'prisma/config'

export default defineConfig({
  schema: 'prisma/schema.prisma',
  migrations: { path: 'prisma/migrations' }
})
