// Bundles the dashboard's page (page/dashboard.ts and what it imports) into dist/page/dashboard.js:
// one minified browser script the dashboard's server reads when a dashboard is served, and never
// otherwise. Run by `npm run build` after the package's own bundle.
import { build } from 'esbuild';

await build({
  entryPoints: [new URL('../page/dashboard.ts', import.meta.url).pathname],
  outfile: new URL('../dist/page/dashboard.js', import.meta.url).pathname,
  bundle: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  legalComments: 'none',
  logLevel: 'warning',
});
