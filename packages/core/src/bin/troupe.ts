// The `troupe` CLI's entry point (node, nodes, shutdown-all): a real program at the edge, so it
// reads process.argv, writes stdio, takes the wall clock (Date.now) for the ages `nodes` prints,
// and starts processes: a command it does not know, `troupe <cmd>`, runs `troupe-<cmd>` (as git
// and cargo do), so packages above core (@troupe/postgres's `troupe jobs`) add commands without
// core importing them.
import { spawn } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { constants as os } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { parseErrorMessage, runNode } from '../endpoint/main.js';
import { listNodes, shutdownAll } from '../nodes/shutdown-all.js';
import { traceCommand } from './trace-command.js';

const USAGE = `usage: troupe <command>
  troupe node [options]        run a node (what launchers start); --help for its options
  troupe nodes list [--json]   idle reusable nodes of this user: pid, age, handshake
  troupe nodes shutdown        ask every idle reusable node of this user to exit
  troupe trace summary FILE    what a recorded run did: critical path, nodes, time lost
  troupe jobs ...              a PostgreSQL job queue (from @troupe/postgres); troupe jobs --help
  troupe <cmd> ...             runs troupe-<cmd> from node_modules/.bin or PATH`;

/** Commands that other troupe packages provide, and the package to install for each. */
const EXTENSIONS: Readonly<Record<string, string>> = { jobs: '@troupe/postgres' };

function formatAge(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 120) return `${s}s`;
  if (s < 7200) return `${Math.round(s / 60)}m`;
  return `${Math.round(s / 3600)}h`;
}

/** A mistake in the command line: `troupe: <message>` and exit code 2. */
class UsageError extends Error {}

/** The options of `troupe nodes list|shutdown` (`--json` where `json` allows it): anything else is refused. */
function nodesOptions(args: string[], json: boolean): { json: boolean } {
  try {
    const { values } = parseArgs({
      args,
      options: json ? { json: { type: 'boolean', default: false } } : {},
      strict: true,
      allowPositionals: false,
    });
    return { json: values.json === true };
  } catch (error) {
    throw new UsageError(parseErrorMessage(error) ?? (error as Error).message);
  }
}

async function main(argv: string[]): Promise<number> {
  const [command, sub, ...rest] = argv;
  if (command === undefined || command === '--help' || command === '-h' || command === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  if (command === 'node') return runNode(argv.slice(1));
  if (command === 'trace') return traceCommand(argv.slice(1));
  if (command !== 'nodes') return runExtension(command, argv.slice(1));
  if (sub === 'list') {
    const { json } = nodesOptions(rest, true);
    const nodes = await listNodes({ now: Date.now() });
    if (json) {
      for (const node of nodes) process.stdout.write(`${JSON.stringify(node)}\n`);
    } else if (nodes.length === 0) {
      process.stderr.write('no idle reusable troupe nodes\n');
    } else {
      for (const node of nodes) {
        process.stdout.write(`${node.pid}\t${formatAge(node.ageMs)}\t${node.summary}\t${node.address}\n`);
      }
    }
    return 0;
  }
  if (sub === 'shutdown') {
    nodesOptions(rest, false);
    const results = await shutdownAll();
    for (const result of results) {
      process.stdout.write(`${result.pid}\t${result.outcome}${result.detail ? `\t${result.detail}` : ''}\n`);
    }
    if (results.length === 0) process.stderr.write('no idle reusable troupe nodes\n');
    return results.some((r) => r.outcome === 'still-running') ? 1 : 0;
  }
  throw new UsageError(
    sub === undefined ? 'nodes needs a command: list or shutdown' : `unknown command ${JSON.stringify(sub)}`,
  );
}

/** `troupe-<name>` in node_modules/.bin from here up, then on PATH; undefined when there is none. */
function findExtension(name: string): string | undefined {
  const file = `troupe-${name}`;
  const folders: string[] = [];
  for (let folder = process.cwd(); ; folder = dirname(folder)) {
    folders.push(join(folder, 'node_modules', '.bin'));
    if (dirname(folder) === folder) break;
  }
  folders.push(...(process.env.PATH ?? '').split(delimiter).filter((folder) => folder !== ''));
  for (const folder of folders) {
    const candidate = join(folder, file);
    try {
      accessSync(candidate, constants.X_OK);
      if (statSync(candidate).isFile()) return candidate;
    } catch {
      // Not there, or not runnable: look further.
    }
  }
  return undefined;
}

/** Runs `troupe-<name>` with the rest of the arguments; its exit is troupe's. */
function runExtension(name: string, args: string[]): Promise<number> {
  const file = /^[a-z][a-z0-9-]*$/.test(name) ? findExtension(name) : undefined;
  if (!file) {
    const needs = EXTENSIONS[name];
    throw new UsageError(
      needs
        ? `troupe ${name} comes with ${needs}, which is not installed here (no troupe-${name} in ` +
            `node_modules/.bin or on PATH): npm install ${needs}`
        : `unknown command ${JSON.stringify(name)} (and no troupe-${name} in node_modules/.bin or on PATH)`,
    );
  }
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { stdio: 'inherit' });
    // The terminal's Ctrl-C reaches both; troupe waits for the command to end and answers as it did.
    const ignore = () => {};
    process.on('SIGINT', ignore);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      process.off('SIGINT', ignore);
      const number = signal ? os.signals[signal] : undefined;
      resolve(code ?? (number === undefined ? 1 : 128 + number));
    });
  });
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    // A mistake in the command line is one line and the usage, never a stack trace.
    const usage = error instanceof UsageError ? error.message : parseErrorMessage(error);
    if (usage !== undefined) {
      const [command, sub] = process.argv.slice(2);
      const which =
        command === 'node' ? 'troupe node' : command === 'nodes' && sub ? 'troupe nodes' : 'troupe';
      process.stderr.write(
        `${which}: ${usage} (see ${which === 'troupe nodes' ? 'troupe' : which} --help)\n`,
      );
      process.exitCode = 2;
      return;
    }
    process.stderr.write(
      `troupe: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`,
    );
    process.exitCode = 1;
  },
);
