// The dependency rules `npm run lint` enforces (dependency-cruiser): packages' sources point one
// way, transport <- core <- testing <- examples and bench, and transport <- core <- postgres (a
// package's tests may use a layer above it, e.g. testing's clock or its private PostgreSQL); a package reaches another only by its name (its built door), never
// into its files; and no module imports one that imports it back.
//
// Inside a package, folders are layers (docs/architecture.md draws them): a folder imports only
// folders in layers below its own, never a sibling in its layer, so no two folders can import each
// other. '.' stands for the package's root files other than its doors (index.ts, internal.ts),
// which are the top layer and may import anything.
const layers = {
  core: [
    ['.'],
    ['system'],
    ['tasks'],
    ['jobs'],
    ['endpoint'],
    ['nodes', 'scheduler'],
    ['dashboard'],
    ['dispatch', 'runtime'],
    ['bin'],
  ],
  testing: [['.'], ['sim'], ['scenarios'], ['bin']],
};

const folderPath = (pkg, folder) =>
  folder === '.'
    ? `^packages/${pkg}/src/(?!index\\.ts$|internal\\.ts$)[^/]+$`
    : `^packages/${pkg}/src/${folder}/`;

function layerRules() {
  const rules = [];
  for (const [pkg, groups] of Object.entries(layers)) {
    groups.forEach((group, rank) => {
      for (const folder of group) {
        const above = groups
          .slice(rank)
          .flat()
          .filter((other) => other !== folder);
        if (above.length === 0) continue;
        rules.push({
          name: `${pkg}-layers`,
          severity: 'error',
          comment: `In @troupe/${pkg}, ${folder === '.' ? 'the root files' : `${folder}/`} may import only folders in layers below it (${
            groups
              .slice(0, rank)
              .map((g) => g.join(' '))
              .join(' < ') || 'none'
          }).`,
          from: { path: folderPath(pkg, folder) },
          to: { path: above.map((other) => folderPath(pkg, other)) },
        });
      }
    });
  }
  return rules;
}

/** @type {import('dependency-cruiser').IConfiguration} */
module.exports = {
  forbidden: [
    ...layerRules(),
    {
      name: 'transport-layers',
      severity: 'error',
      comment:
        'In @troupe/transport, machines/ are leaves (they import only errors.ts) and the root files never import transports/, which build on them.',
      from: { path: '^packages/transport/src/machines/' },
      to: {
        path: '^packages/transport/src/',
        pathNot: ['^packages/transport/src/errors\\.ts$', '^packages/transport/src/machines/'],
      },
    },
    {
      name: 'transport-layers',
      severity: 'error',
      comment: 'In @troupe/transport, the root files never import transports/, which build on them.',
      from: { path: '^packages/transport/src/(?!index\\.ts$|internal\\.ts$)[^/]+$' },
      to: { path: '^packages/transport/src/transports/' },
    },
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
      comment: '@troupe/transport is the bottom layer: it never imports core, testing or postgres.',
      from: { path: '^packages/transport/src/' },
      to: { path: '^packages/(core|testing|postgres)/' },
    },
    {
      name: 'core-below-testing',
      severity: 'error',
      comment: '@troupe/core never imports @troupe/testing (testing drives core, not the other way).',
      from: { path: '^packages/core/src/' },
      to: { path: '^packages/testing/' },
    },
    {
      name: 'core-below-postgres',
      severity: 'error',
      comment: '@troupe/core never imports @troupe/postgres: a JobSource is given to it, not looked up.',
      from: { path: '^packages/core/src/' },
      to: { path: '^packages/postgres/' },
    },
    {
      name: 'postgres-beside-testing',
      severity: 'error',
      comment:
        '@troupe/postgres and @troupe/testing both build on core and never import each other (postgres tests may use testing).',
      from: { path: '^packages/(postgres|testing)/src/' },
      to: { path: '^packages/(postgres|testing)/', pathNot: ['^packages/$1/'] },
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
