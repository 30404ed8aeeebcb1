// The code in README.md and docs/*.md runs as printed (undici runs its examples the same way).
//
// Conventions (the markers are HTML comments right above a fence, invisible on GitHub):
// - Every ```js / ```ts block runs, with `node`, unless marked `<!-- not runnable: why -->`.
// - A block whose first line is `// name.mjs` (or .js, .ts) is written under that name, so later
//   blocks can import it; a .ts block is written as .js with its types stripped (esbuild, no
//   down-levelling: what Node's own type stripping would run). Every block of a document is written
//   into one directory before any runs; they run in document order.
// - The ```ts blocks of a document also typecheck together (tsc, strict, NodeNext), as written.
// - `<!-- placeholders: a, ./b.js -->` names what the reader is left to write; test/docs/snippets.ts
//   defines each (for the typecheck, a name is declared `any`).
// - `<!-- output -->` above a ```text block: the stdout of the runnable block before it, exactly.
// - A ```sh block's commands must each be listed in test/docs/snippets.ts with the test that runs
//   them, or why none does. Blocks without a language are diagrams.
import { spawn } from 'node:child_process';
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CodeBlock, codeBlocks, shellCommands } from './docs/markdown.js';
import { type Coverage, shellCommands as covered, placeholders } from './docs/snippets.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const runnable = new Set(['js', 'javascript', 'mjs', 'ts', 'typescript']);
const shells = new Set(['sh', 'bash', 'shell', 'console']);
const diagrams = new Set(['', 'text']);
/** A snippet that has not ended by then never will (a `run()` waiting for jobs, a link left open). */
const SNIPPET_TIMEOUT_MS = 45_000;

const documents = [
  'README.md',
  ...(await readdir(join(root, 'docs')))
    .filter((name) => name.endsWith('.md'))
    .sort()
    .map((name) => `docs/${name}`),
];
const blocksOf = new Map<string, CodeBlock[]>();
for (const document of documents)
  blocksOf.set(document, codeBlocks(document, await readFile(join(root, document), 'utf8')));

const where = (block: CodeBlock) => `${block.document}:${block.line}`;
const isTs = (block: CodeBlock) => block.lang === 'ts' || block.lang === 'typescript';
/** The file a block is written as: its own name (.ts as .js), or one made from its line. */
const fileOf = (block: CodeBlock) =>
  (block.name ?? `snippet-line-${block.line}.mjs`).replace(/\.ts$/, '.js').replace(/\.mts$/, '.mjs');
/** The file a ts block is typechecked as, beside the JavaScript it runs as. */
const typedFileOf = (block: CodeBlock) => block.name ?? `snippet-line-${block.line}.mts`;
const identifiers = (block: CodeBlock) => block.placeholders.filter((name) => !name.startsWith('./'));

async function source(block: CodeBlock): Promise<string> {
  const prelude = identifiers(block)
    .map((name) => placeholders[name])
    .join('\n');
  const code = isTs(block)
    ? (await transform(block.code, { loader: 'ts', format: 'esm', target: 'esnext' })).code
    : block.code;
  return prelude ? `${prelude}\n${code}` : code;
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  timedOut: boolean;
}

function run(file: string, cwd: string, env: NodeJS.ProcessEnv, args: string[] = []): Promise<Run> {
  return new Promise((resolve, reject) => {
    // Its own process group, so that a snippet that hangs goes with whatever it started.
    const child = spawn(process.execPath, [file, ...args], {
      cwd,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk;
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk;
    });
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid!, 'SIGKILL');
      } catch {
        // Already gone.
      }
    }, SNIPPET_TIMEOUT_MS);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, timedOut });
    });
  });
}

/** The environment a snippet runs in: troupe's per-user directory is the document's own. */
function snippetEnv(sockets: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [key, value] of Object.entries(process.env))
    if (!key.startsWith('VITEST') && !key.startsWith('TROUPE_')) env[key] = value;
  // biome-ignore lint/complexity/useLiteralKeys: an environment variable
  env['TROUPE_SOCKET_DIR'] = sockets;
  return env;
}

for (const document of documents) {
  const blocks = blocksOf.get(document)!;
  describe(`${document} runs as printed`, () => {
    let directory = '';
    let sockets = '';

    beforeAll(async () => {
      directory = await mkdtemp(join(tmpdir(), 'troupe-docs-'));
      sockets = join(directory, 'sockets');
      await mkdir(sockets);
      await chmod(sockets, 0o700);
      await writeFile(join(directory, 'package.json'), '{ "type": "module", "private": true }\n');
      // `@troupe/*` resolves to the workspace packages, as in a project that installed them.
      await symlink(join(root, 'node_modules'), join(directory, 'node_modules'), 'dir');
      for (const block of blocks) {
        if (!runnable.has(block.lang) || block.notRunnable !== undefined) continue;
        await writeFile(join(directory, fileOf(block)), await source(block));
        if (isTs(block)) {
          const declared = identifiers(block).map((name) => `declare const ${name}: any;\n`);
          await writeFile(join(directory, typedFileOf(block)), `${declared.join('')}${block.code}`);
        }
        for (const name of block.placeholders.filter((p) => p.startsWith('./')))
          await writeFile(join(directory, name), placeholders[name] ?? '');
      }
    });

    afterAll(async () => {
      if (!directory) return;
      // Reusable nodes a snippet left idle (they are its point) go before their directory does.
      const shutdown = join(root, 'packages/core/bin/troupe.js');
      await new Promise<void>((resolve) => {
        const child = spawn(process.execPath, [shutdown, 'nodes', 'shutdown'], {
          env: snippetEnv(sockets),
          stdio: 'ignore',
        });
        child.on('close', () => resolve());
        child.on('error', () => resolve());
      });
      await rm(directory, { recursive: true, force: true });
    });

    it('has only code blocks this test knows how to check, each marked as it should be', () => {
      const problems: string[] = [];
      for (const block of blocks) {
        const known = runnable.has(block.lang) || shells.has(block.lang) || diagrams.has(block.lang);
        if (!known) problems.push(`${where(block)}: a \`\`\`${block.lang} block (run it, or make it text)`);
        for (const m of block.unknownMarkers) problems.push(`${where(block)}: unknown marker <!-- ${m} -->`);
        if (block.notRunnable === '')
          problems.push(`${where(block)}: <!-- not runnable --> without a reason`);
        if (block.notRunnable !== undefined && !runnable.has(block.lang))
          problems.push(`${where(block)}: <!-- not runnable --> on a block that would not run anyway`);
        for (const name of block.placeholders)
          if (!(name in placeholders))
            problems.push(`${where(block)}: placeholder ${name} is not in test/docs/snippets.ts`);
        if (block.isOutput && block.lang !== 'text')
          problems.push(`${where(block)}: <!-- output --> on a non-text block`);
      }
      expect(problems).toEqual([]);
    });

    const typed = blocks.filter((block) => isTs(block) && block.notRunnable === undefined);
    if (typed.length > 0)
      it(`its TypeScript blocks typecheck (${typed.map(where).join(', ')})`, {
        timeout: 60_000,
      }, async () => {
        await writeFile(
          join(directory, 'tsconfig.json'),
          JSON.stringify({
            compilerOptions: {
              target: 'ES2022',
              lib: ['ES2023'],
              module: 'NodeNext',
              moduleResolution: 'NodeNext',
              strict: true,
              noEmit: true,
              allowJs: true,
              skipLibCheck: true,
              types: ['node'],
            },
            files: typed.map(typedFileOf),
          }),
        );
        const result = await run(
          join(root, 'node_modules/typescript/bin/tsc'),
          directory,
          snippetEnv(sockets),
          ['-p', 'tsconfig.json', '--pretty', 'false'],
        );
        const files = typed.map((block) => `${typedFileOf(block)} is ${where(block)}`).join(', ');
        expect(result.stdout, `${files}\n${result.stdout}${result.stderr}`).toBe('');
        expect(result.code).toBe(0);
      });

    for (const [index, block] of blocks.entries()) {
      if (!runnable.has(block.lang) || block.notRunnable !== undefined) continue;
      const next = blocks[index + 1];
      const output = next?.isOutput ? next.code : undefined;
      it(`${where(block)}${block.name ? ` (${block.name})` : ''} runs${output ? ' and prints what the doc shows' : ''}`, {
        timeout: SNIPPET_TIMEOUT_MS + 15_000,
      }, async () => {
        const result = await run(fileOf(block), directory, snippetEnv(sockets));
        const report = `${where(block)}: ${
          result.timedOut
            ? `did not end within ${SNIPPET_TIMEOUT_MS / 1000} s`
            : `exit ${result.code ?? result.signal}`
        }\n--- stdout\n${result.stdout}--- stderr\n${result.stderr}`;
        expect(result.timedOut, report).toBe(false);
        expect(result.code, report).toBe(0);
        if (output !== undefined) expect(result.stdout, report).toBe(output);
      });
    }
  });
}

describe('shell commands in the docs', () => {
  const shown = new Map<string, string>();
  for (const blocks of blocksOf.values())
    for (const block of blocks)
      if (shells.has(block.lang))
        for (const command of shellCommands(block)) shown.set(command, where(block));

  it('are each run by a named test, or say why not', async () => {
    const problems: string[] = [];
    for (const [command, at] of shown)
      if (!(command in covered))
        problems.push(`${at}: \`${command}\` is in no entry of shellCommands in test/docs/snippets.ts`);
    for (const [command, coverage] of Object.entries(covered) as Array<[string, Coverage]>) {
      if (!shown.has(command)) problems.push(`shellCommands lists \`${command}\`, which no document shows`);
      if ('test' in coverage) {
        const text = await readFile(join(root, coverage.test), 'utf8').catch(() => '');
        if (!text.includes(coverage.name))
          problems.push(`\`${command}\`: ${coverage.test} has no test named "${coverage.name}"`);
      } else if (!coverage.notRun.trim()) problems.push(`\`${command}\`: notRun without a reason`);
    }
    expect(problems).toEqual([]);
  });
});
