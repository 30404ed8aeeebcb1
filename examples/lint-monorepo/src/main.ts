// The example's command: generate a monorepo, or lint one on troupe process nodes and print each
// package's error and warning counts and the total (or one JSON line with --json).
import { generateRepo } from './generate.js';
import { LintFailedError, type LintSummary, lintMonorepo } from './lint.js';
import { type Command, parseCommand, USAGE, UsageError } from './options.js';

function table(summary: LintSummary): string {
  const width = Math.max(7, ...summary.packages.map((pkg) => pkg.name.length));
  const row = (cells: readonly string[]) =>
    `${cells[0]!.padEnd(width)}  ${cells
      .slice(1)
      .map((cell) => cell.padStart(8))
      .join('  ')}`;
  return [
    row(['package', 'files', 'errors', 'warnings', 'node', 'state', 'lint ms']),
    ...summary.packages.map((pkg) =>
      row([
        pkg.name,
        String(pkg.files.length),
        String(pkg.errors),
        String(pkg.warnings),
        String(pkg.pid),
        pkg.cached ? 'cached' : pkg.warm ? 'warm' : 'cold',
        pkg.lintMs.toFixed(0),
      ]),
    ),
    row(['total', String(summary.files), String(summary.errors), String(summary.warnings), '', '', '']),
  ].join('\n');
}

async function run(command: Exclude<Command, { kind: 'help' }>): Promise<number> {
  if (command.kind === 'generate') {
    const made = await generateRepo(command.out, command.generate);
    console.log(
      `generated ${made.packages} packages, ${made.lines} lines of TypeScript in ${made.files} files at ${made.root} (${made.written} written)`,
    );
    return 0;
  }
  let repo = command.repo;
  if (repo === undefined) {
    const made = await generateRepo(command.out, command.generate);
    repo = made.root;
    if (!command.json)
      console.log(
        `repo: ${made.root} (${made.packages} packages, ${made.lines} lines, ${made.written} files written)`,
      );
  }
  const progress = process.stderr.isTTY && !command.json;
  const summary = await lintMonorepo({
    repo,
    nodes: command.nodes,
    reuse: command.reuse,
    onPackage: (report, done, total) => {
      if (progress)
        process.stderr.write(`\r\x1b[K${done}/${total} ${report.name}${done === total ? '\n' : ''}`);
    },
  });
  if (command.json) console.log(JSON.stringify(summary));
  else {
    console.log(table(summary));
    console.log(
      `${summary.errors} errors, ${summary.warnings} warnings in ${summary.files} files of ${summary.packages.length} packages, ` +
        `${(summary.ms / 1000).toFixed(1)} s on ${summary.pids.length} process nodes ` +
        `(${summary.warmPackages} packages linted warm, ${summary.cachedPackages} from the results cache` +
        `${command.reuse ? '; nodes left idle for the next --reuse run' : ''})`,
    );
  }
  return summary.errors > 0 ? 1 : 0;
}

async function main(): Promise<number> {
  let command: Command;
  try {
    command = parseCommand(process.argv.slice(2));
  } catch (error) {
    if (!(error instanceof UsageError)) throw error;
    console.error(`${error.message}\n\n${USAGE}`);
    return 2;
  }
  if (command.kind === 'help') {
    console.log(USAGE);
    return 0;
  }
  return run(command);
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    console.error(
      error instanceof LintFailedError || !(error instanceof Error) ? String(error) : error.message,
    );
    process.exitCode = 2;
  },
);
