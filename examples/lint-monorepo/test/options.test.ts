// The example's command line: what each command line means, and the message a bad one gets.
import { describe, expect, it } from 'vitest';
import { defaultRepoFolder, parseCommand, UsageError } from '../dist/options.js';

describe('lint-monorepo options', () => {
  it('lints a generated default repo on one node per core by default', () => {
    const command = parseCommand([], 3);
    expect(command).toEqual({
      kind: 'lint',
      repo: undefined,
      out: defaultRepoFolder({ packages: 40, lines: 2500, seed: 1 }),
      generate: { packages: 40, lines: 2500, seed: 1 },
      nodes: 3,
      reuse: false,
      json: false,
    });
  });

  it('takes a repo, nodes, reuse and json; generate takes an out folder and the repo shape', () => {
    expect(parseCommand(['lint', '--repo', '/r', '--nodes', '4', '--reuse', '--json'], 2)).toMatchObject({
      kind: 'lint',
      repo: '/r',
      nodes: 4,
      reuse: true,
      json: true,
    });
    expect(
      parseCommand(['generate', '--out', '/o', '--packages', '8', '--lines', '900', '--seed', '0']),
    ).toEqual({ kind: 'generate', out: '/o', generate: { packages: 8, lines: 900, seed: 0 } });
    expect(parseCommand(['--help'])).toEqual({ kind: 'help' });
  });

  it.each([
    { args: ['--nodes', '0'], says: '--nodes must be a whole number of at least 1, not "0"' },
    { args: ['--packages', 'many'], says: '--packages must be a whole number' },
    { args: ['--lines', '1.5'], says: '--lines must be a whole number' },
    { args: ['--seed', '-1'], says: '--seed' },
    { args: ['--frobnicate'], says: "Unknown option '--frobnicate'" },
    { args: ['publish'], says: 'unknown command "publish": lint or generate' },
    { args: ['lint', 'generate'], says: 'one command at most' },
    { args: ['generate'], says: 'generate needs --out DIR' },
    { args: ['generate', '--out', 'x', '--reuse'], says: '--reuse applies to lint, not generate' },
    { args: ['--repo', 'r', '--packages', '3'], says: '--packages describes a generated repo' },
  ])('refuses $args: $says', ({ args, says }) => {
    expect(() => parseCommand(args, 2)).toThrow(UsageError);
    expect(() => parseCommand(args, 2)).toThrow(says);
  });
});
