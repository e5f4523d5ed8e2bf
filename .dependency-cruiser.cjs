// The house rules of docs/architecture.md, checked on every `npm run lint` (and so in CI).
// Floors, top to bottom: server -> app -> plugins -> routes, graphql -> domain -> nemo, db ->
// observability, config, errors, inputs. Nothing imports a floor above its own, nothing goes in
// a circle, and the bounded contexts of src/domain meet only through their index.ts.
/** @type {import('dependency-cruiser').IConfiguration} */
const floor = (...dirs) => dirs.map((d) => `^src/${d}`)

module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', comment: 'no import goes in a circle', from: { path: '^src/' }, to: { circular: true } },
    {
      name: 'domain-is-plain-typescript',
      severity: 'error',
      comment: 'domain/ never imports Fastify or anything above it (plugins, routes, graphql, app, server)',
      from: { path: '^src/domain/' },
      to: { path: ['^node_modules/(fastify|fastify-plugin|@fastify|mercurius)/', ...floor('plugins/', 'routes/', 'graphql/', 'app\\.ts', 'server\\.ts', 'cli/')] }
    },
    {
      name: 'contexts-meet-at-their-door',
      severity: 'error',
      comment: 'one context reaches another only through its index.ts',
      from: { path: '^src/domain/([^/]+)/' },
      to: { path: '^src/domain/[^/]+/[^/]+', pathNot: ['^src/domain/$1/', '^src/domain/[^/]+/index\\.ts$'] }
    },
    {
      name: 'faces-use-the-door',
      severity: 'error',
      comment: 'routes, graphql, plugins and the CLI use a context through its index.ts',
      from: { pathNot: '^src/domain/' },
      to: { path: '^src/domain/[^/]+/[^/]+', pathNot: '^src/domain/[^/]+/index\\.ts$' }
    },
    {
      name: 'nemo-knows-no-database',
      severity: 'error',
      comment: 'nemo/ is the upstream and nothing else: no Prisma, no db/, nothing above it',
      from: { path: '^src/nemo/' },
      to: { path: ['^node_modules/@prisma/', '^src/generated/', ...floor('db/', 'domain/', 'plugins/', 'routes/', 'graphql/', 'app\\.ts', 'server\\.ts')] }
    },
    {
      name: 'db-below-domain',
      severity: 'error',
      from: { path: '^src/db/' },
      to: { path: floor('domain/', 'plugins/', 'routes/', 'graphql/', 'app\\.ts', 'server\\.ts') }
    },
    {
      name: 'only-nemo-client-calls-upstream',
      severity: 'error',
      comment: 'undici (HTTP) is used by nemo/client (the upstream), webhook delivery (receivers) and the demo CLI (its requests: cli/send-again) only',
      from: { path: '^src/', pathNot: ['^src/nemo/client\\.ts$', '^src/domain/webhooks/webhook-delivery\\.ts$', '^src/cli/demo\\.ts$', '^src/cli/send-again\\.ts$', '^src/telemetry\\.ts$'] },
      to: { path: '^node_modules/undici/' }
    },
    {
      name: 'faces-below-plugins',
      severity: 'error',
      comment: 'routes and graphql are faces over the domain: they never import plugins, app or server',
      from: { path: floor('routes/', 'graphql/') },
      to: { path: floor('plugins/', 'app\\.ts', 'server\\.ts') }
    },
    {
      name: 'plugins-below-app',
      severity: 'error',
      from: { path: '^src/plugins/' },
      to: { path: floor('app\\.ts', 'server\\.ts') }
    },
    {
      name: 'leaves-stay-leaves',
      severity: 'error',
      comment: 'config, errors, inputs, observability and the resource schemas import nothing of the app',
      from: { path: ['^src/(config|errors|inputs)\\.ts$', '^src/observability/', '^src/schemas/', '^src/http/'] },
      to: { path: floor('db/', 'nemo/', 'domain/', 'plugins/', 'routes/', 'graphql/', 'app\\.ts', 'server\\.ts', 'cli/') }
    },
    {
      name: 'simulator-stands-alone',
      severity: 'error',
      comment: 'the simulator is its own program: it shares no code with the gateway but the upstream model',
      from: { path: '^src/simulator/' },
      to: { path: floor('db/', 'domain/', 'plugins/', 'routes/', 'graphql/', 'app\\.ts', 'server\\.ts') }
    }
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    exclude: { path: '^src/generated/' },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.json' },
    enhancedResolveOptions: { exportsFields: ['exports'], conditionNames: ['import', 'require', 'node', 'default'] }
  }
}
