// Reads the fenced code blocks of a markdown file, with the HTML comments right above each one:
// the conventions the docs test (test/docs.test.ts) runs them by. A comment is part of a block's
// markers when only other marker comments stand between it and the fence.

export interface CodeBlock {
  /** The markdown file, relative to the repository. */
  readonly document: string;
  /** The 1-based line of the opening fence. */
  readonly line: number;
  /** The first word of the fence's info string, lower-cased ('' for none). */
  readonly lang: string;
  readonly code: string;
  /** `// name.mjs` on the first line names the file the block is written as. */
  readonly name: string | undefined;
  /** `<!-- not runnable: why -->`: the why ('' when the marker has no reason). */
  readonly notRunnable: string | undefined;
  /** `<!-- placeholders: a, b, ./c.js -->`: what the test defines for the block (test/docs/snippets.ts). */
  readonly placeholders: readonly string[];
  /** `<!-- output -->` above a text block: it is the stdout of the runnable block before it. */
  readonly isOutput: boolean;
  /** Marker comments this test does not know (a typo must not silently do nothing). */
  readonly unknownMarkers: readonly string[];
}

const fence = /^(`{3,}|~{3,})\s*([^`\s]*)?.*$/;
const marker = /^<!--\s*(.*?)\s*-->$/;

export function codeBlocks(document: string, text: string): CodeBlock[] {
  const lines = text.split('\n');
  const blocks: CodeBlock[] = [];
  for (let index = 0; index < lines.length; index++) {
    const open = fence.exec(lines[index]!);
    if (!open) continue;
    const markers: string[] = [];
    for (let above = index - 1; above >= 0; above--) {
      const comment = marker.exec(lines[above]!.trim());
      if (!comment) break;
      markers.unshift(comment[1]!);
    }
    const close = open[1]!;
    const body: string[] = [];
    let end = index + 1;
    while (end < lines.length && !lines[end]!.startsWith(close)) body.push(lines[end++]!);
    if (end === lines.length) throw new Error(`${document}:${index + 1}: a code block that never closes`);
    const code = `${body.join('\n')}\n`;
    let notRunnable: string | undefined;
    let placeholders: string[] = [];
    let isOutput = false;
    const unknownMarkers: string[] = [];
    for (const m of markers) {
      const [key, ...rest] = m.split(':');
      const value = rest.join(':').trim();
      if (key === 'not runnable') notRunnable = value;
      else if (key === 'placeholders')
        placeholders = value
          .split(',')
          .map((p) => p.trim())
          .filter(Boolean);
      else if (m === 'output') isOutput = true;
      else unknownMarkers.push(m);
    }
    blocks.push({
      document,
      line: index + 1,
      lang: (open[2] ?? '').toLowerCase(),
      code,
      name: /^\/\/\s*([\w.-]+\.(?:mjs|js|mts|ts))\b/.exec(body[0] ?? '')?.[1],
      notRunnable,
      placeholders,
      isOutput,
      unknownMarkers,
    });
    index = end;
  }
  return blocks;
}

/** The commands of a shell block: one per line, without comments and prompts. */
export function shellCommands(block: CodeBlock): string[] {
  return block.code
    .split('\n')
    .map((line) =>
      line
        .replace(/^\$\s+/, '')
        .replace(/\s#.*$/, '')
        .trim(),
    )
    .filter((line) => line !== '' && !line.startsWith('#'));
}
