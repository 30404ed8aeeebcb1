// Lage's worker runner calls `run` for each package's `lint` target on a pool of worker threads
// that stay up for the whole `lage lint`: one ESLint instance per thread, kept across packages (the
// setup Lage's docs recommend for ESLint). ESLint is the one the linted repo resolves; each
// package's results go to a JSON file in LINT_OUT, so the bench can compare them with eslint's.
import { writeFile } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

let eslint;

export async function run({ target }) {
  const root = process.env.LINT_ROOT;
  if (eslint === undefined) {
    const entry = createRequire(join(root, 'package.json')).resolve('eslint');
    const { ESLint } = await import(pathToFileURL(entry).href);
    eslint = new ESLint({ cwd: root, errorOnUnmatchedPattern: false });
  }
  const results = await eslint.lintFiles([target.cwd]);
  const name = target.packageName.replace(/[@/]/g, '_');
  await writeFile(join(process.env.LINT_OUT, `${name}.json`), JSON.stringify(results));
}
