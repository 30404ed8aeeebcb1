// Bundles the process-node entry into one file, dist/troupe-node.mjs. A node's start-up time is
// mostly spent resolving and reading modules (xstate alone is ~20 ms through its CommonJS
// wrapper); one minified ESM file starts ~35 ms sooner. Run by `npm run build` after tsc.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../dist/endpoint/process-entry.js', import.meta.url).pathname],
  outfile: new URL('../dist/troupe-node.mjs', import.meta.url).pathname,
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  // Prefer the ES module builds of dependencies over their CommonJS wrappers.
  conditions: ['module'],
  mainFields: ['module', 'main'],
  minify: true,
  keepNames: true,
  legalComments: 'eof',
  logLevel: 'warning',
  // Bundled CommonJS dependencies (msgpackr's optional native addon probe) still call require.
  banner: {
    js: "import { createRequire as __troupeRequire } from 'node:module'; const require = __troupeRequire(import.meta.url);",
  },
});
