// The example's command line, checked: an unknown option, a bad value or an option that does not
// apply to the command throws a UsageError (exit code 2) that names it.
import { availableParallelism, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_GENERATE, type GenerateOptions } from './plan.js';

export const USAGE = `usage: npm run lint-monorepo -- [lint] [options]      (examples/lint-monorepo)
       npm run lint-monorepo -- generate --out DIR [options]

lint (the default): lint a repo with ESLint on troupe process nodes, one request per package
  --repo DIR          the repo to lint (its root package.json's workspaces name the packages);
                      without it, a generated repo (below) in --out, made or brought up to date
                      (default: a folder per options under ${join(tmpdir(), 'troupe-lint-monorepo')})
  --nodes N           process nodes at most (default: available parallelism, ${availableParallelism()} here)
  --reuse             reuse idle nodes of an earlier --reuse run, with their ESLint and TypeScript
                      state still warm if the repo is unchanged, and the results of packages whose
                      files and dependencies are unchanged (kept in .troupe-lint-cache in the repo);
                      leave the nodes idle afterwards (they exit after 15 idle minutes, or:
                      npx troupe nodes shutdown)
  --json              one JSON line: packages (dir, name, errors, warnings, files with messages,
                      pid, warm, cached, lintMs, maxRssKB), files, errors, warnings, pids,
                      warmPackages, cachedPackages, nodeMaxRssKB, ms
generate: write a generated monorepo
  --out DIR           where (empty, missing, or a repo this generator made); required
both (for lint, only without --repo):
  --packages N        packages (default ${DEFAULT_GENERATE.packages})
  --lines L           lines of TypeScript per package, roughly (default ${DEFAULT_GENERATE.lines})
  --seed S            the generator's seed (default ${DEFAULT_GENERATE.seed})
Exit code: 0 no lint errors, 1 lint errors, 2 bad options or a package that could not be linted.`;

/** A command line that makes no sense: exit code 2, with the message. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

export type Command =
  | { kind: 'help' }
  | { kind: 'generate'; out: string; generate: GenerateOptions }
  | {
      kind: 'lint';
      /** The repo to lint, or undefined to generate one into `out`. */
      repo: string | undefined;
      out: string;
      generate: GenerateOptions;
      nodes: number;
      reuse: boolean;
      json: boolean;
    };

function integer(name: string, value: string | undefined, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(parsed) || parsed < min)
    throw new UsageError(`--${name} must be a whole number of at least ${min}, not ${JSON.stringify(value)}`);
  return parsed;
}

function parse(args: readonly string[]) {
  return parseArgs({
    args: [...args],
    allowPositionals: true,
    options: {
      repo: { type: 'string' },
      out: { type: 'string' },
      nodes: { type: 'string' },
      reuse: { type: 'boolean' },
      json: { type: 'boolean' },
      packages: { type: 'string' },
      lines: { type: 'string' },
      seed: { type: 'string' },
      help: { type: 'boolean' },
    },
  });
}

/** Where a lint without --repo keeps its generated repo: the same folder for the same options, so
 * a second run (and reused nodes) finds the same files. */
export function defaultRepoFolder(options: GenerateOptions, temp = tmpdir()): string {
  return join(temp, 'troupe-lint-monorepo', `${options.packages}x${options.lines}-seed${options.seed}`);
}

export function parseCommand(args: readonly string[], cores = availableParallelism()): Command {
  let parsed: ReturnType<typeof parse>;
  try {
    parsed = parse(args);
  } catch (error) {
    throw new UsageError((error as Error).message);
  }
  const { values, positionals } = parsed;
  if (values.help) return { kind: 'help' };
  if (positionals.length > 1) throw new UsageError(`one command at most, not ${positionals.join(' ')}`);
  const command = positionals[0] ?? 'lint';
  if (command !== 'lint' && command !== 'generate')
    throw new UsageError(`unknown command ${JSON.stringify(command)}: lint or generate`);
  const generate: GenerateOptions = {
    packages: integer('packages', values.packages, DEFAULT_GENERATE.packages, 1),
    lines: integer('lines', values.lines, DEFAULT_GENERATE.lines, 1),
    seed: integer('seed', values.seed, DEFAULT_GENERATE.seed, 0),
  };
  if (command === 'generate') {
    for (const option of ['repo', 'nodes', 'reuse', 'json'] as const)
      if (values[option] !== undefined) throw new UsageError(`--${option} applies to lint, not generate`);
    if (values.out === undefined) throw new UsageError('generate needs --out DIR');
    return { kind: 'generate', out: resolve(values.out), generate };
  }
  if (values.repo !== undefined) {
    for (const option of ['packages', 'lines', 'seed', 'out'] as const)
      if (values[option] !== undefined)
        throw new UsageError(`--${option} describes a generated repo and does not go with --repo`);
  }
  return {
    kind: 'lint',
    repo: values.repo === undefined ? undefined : resolve(values.repo),
    out: values.out === undefined ? defaultRepoFolder(generate) : resolve(values.out),
    generate,
    nodes: integer('nodes', values.nodes, cores, 1),
    reuse: values.reuse === true,
    json: values.json === true,
  };
}
