// What @troupe/transport's and @troupe/core's bundles (their scripts/bundle.mjs) share: esbuild
// options for one ES module bundle per door with shared chunks, built for Node 20. Each package
// adds its entries, where they go, and what stays external.

/** Chunks named by their content; ESM for Node 20; ES module builds of dependencies preferred. */
export const bundleOptions = {
  bundle: true,
  splitting: true,
  chunkNames: 'chunk-[hash]',
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Prefer the ES module builds of dependencies over their CommonJS wrappers.
  conditions: ['module'],
  mainFields: ['module', 'main'],
  // Whitespace and syntax only: identifiers keep their names, so classes keep theirs (an error's
  // name is its class's) without esbuild's keepNames, which wraps every function, closures made
  // per request too, in a defineProperty call (~10% of a host's time per blocked request).
  minifyWhitespace: true,
  minifySyntax: true,
  sourcemap: true,
  legalComments: 'eof',
  logLevel: 'warning',
};
