// The dependency rules `npm run lint` enforces (dependency-cruiser): packages' sources point one
// way, transport <- core <- testing <- examples and bench (a package's tests may use a layer above
// it, e.g. testing's clock); a package reaches another only by its name (its built door), never
// into its files; and no module imports one that imports it back.
/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    {
      name: 'no-circular',
      severity: 'error',
      comment: 'A module and a module it imports import each other (directly or around a ring).',
      from: { path: '^(packages|examples|bench)/' },
      to: { circular: true },
    },
    {
      name: 'transport-below-core',
      severity: 'error',
      comment: '@troupe/transport is the bottom layer: it never imports core or testing.',
      from: { path: '^packages/transport/src/' },
      to: { path: '^packages/(core|testing)/' },
    },
    {
      name: 'core-below-testing',
      severity: 'error',
      comment: '@troupe/core never imports @troupe/testing (testing drives core, not the other way).',
      from: { path: '^packages/core/src/' },
      to: { path: '^packages/testing/' },
    },
    {
      name: 'packages-below-examples',
      severity: 'error',
      comment: 'The packages never import the examples or the bench, which are their users.',
      from: { path: '^packages/[^/]+/src/' },
      to: { path: '^(examples|bench)/' },
    },
    {
      name: 'by-name-only',
      severity: 'error',
      comment:
        'Another package is imported by its name (its dist door), never by a relative path into its files.',
      from: { path: '^(packages|examples)/([^/]+)/' },
      to: { path: '^(packages|examples)/', pathNot: ['^$1/$2/', '^packages/[^/]+/dist/'] },
    },
  ],
  options: {
    doNotFollow: { path: ['node_modules', '/dist/'] },
    exclude: { path: ['node_modules'] },
    tsPreCompilationDeps: true,
    tsConfig: { fileName: 'tsconfig.base.json' },
    enhancedResolveOptions: {
      exportsFields: ['exports'],
      conditionNames: ['import', 'require', 'node', 'default', 'types'],
      extensions: ['.ts', '.mts', '.js', '.mjs', '.d.ts'],
    },
  },
};
