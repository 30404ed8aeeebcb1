// `npm run check:mutants`: a mutation run. Makes small slips (flipped comparisons and logic,
// negated conditions, dropped statements, XState transitions, guards and actions, moved
// constants, swapped outcomes: ./mutants/operators.mjs) in core's scheduler, node context,
// endpoint and job dispatcher and in transport's link, one at a time, and checks that the tests or
// the model checker notice each. Not in CI: a mutant costs tens of seconds.
//
// StrykerJS does not fit this monorepo: its Vitest runner mutates the sources Vitest loads, but
// troupe's tests load the built, bundled packages (dist/bundle, as Node and the nodes load them),
// so a mutant would need a build per mutant anyway; and its command runner can only say "the
// whole command failed". So: a small script of our own.
//
// How: a scratch git worktree (never this checkout) at HEAD, built once. For each mutant the
// mutated file is transpiled alone (the packages use isolatedModules and verbatimModuleSyntax, so
// this is exactly tsc's emit; the script checks it is for the original) over its dist/ file, the
// package rebundled, then the area's test files run (bail at the first failure; a timeout counts
// as caught), and, if they pass, the model checker explores the area's scenarios (500 schedules
// each unless --schedules). The original is put back after each.
//
//   npm run check:mutants -- [--count 30] [--seed 1] [--files REGEX] [--only REGEX] [--schedules 500]
//                            [--scratch DIR] [--out DIR] [--list] [--no-build] [--no-baseline]
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { parseArgs, stripVTControlCharacters } from 'node:util';
import ts from 'typescript';
import { apply, mutantsOf } from './mutants/operators.mjs';
import { areaOf, areas } from './mutants/targets.mjs';

const repo = join(dirname(new URL(import.meta.url).pathname), '..');
const { values } = parseArgs({
  options: {
    count: { type: 'string', default: '30' },
    seed: { type: 'string', default: '1' },
    files: { type: 'string' },
    only: { type: 'string' },
    schedules: { type: 'string', default: '500' },
    scratch: {
      type: 'string',
      default: join(dirname(repo), `${relative(dirname(repo), repo)}-mutants-scratch`),
    },
    out: { type: 'string', default: join(tmpdir(), 'troupe-mutants') },
    'test-timeout': { type: 'string', default: '180' },
    'model-timeout': { type: 'string', default: '180' },
    list: { type: 'boolean' },
    'no-build': { type: 'boolean' },
    'no-baseline': { type: 'boolean' },
    all: { type: 'boolean' },
  },
});
const count = Number(values.count);
const seed = Number(values.seed);
const filesRe = values.files ? new RegExp(values.files) : undefined;

// ---- choosing the mutants -------------------------------------------------------------------

function sourceFiles() {
  const found = [];
  const walk = (dir) => {
    for (const e of readdirSync(join(repo, dir), { withFileTypes: true })) {
      const path = `${dir}/${e.name}`;
      if (e.isDirectory()) walk(path);
      else if (path.endsWith('.ts') && areaOf(path) && (!filesRe || filesRe.test(path))) found.push(path);
    }
  };
  for (const dir of ['packages/core/src', 'packages/transport/src']) walk(dir);
  return found.sort();
}

const compilerOptions = (pkg) => {
  const parsed = ts.getParsedCommandLineOfConfigFile(
    join(repo, `packages/${pkg}/tsconfig.json`),
    {},
    {
      ...ts.sys,
      onUnRecoverableConfigFileDiagnostic: (d) => {
        throw new Error(ts.flattenDiagnosticMessageText(d.messageText, '\n'));
      },
    },
  );
  // ES modules ("type": "module"); no maps or typings: only the JavaScript is swapped.
  const { moduleResolution, rootDir, outDir, tsBuildInfoFile, ...options } = parsed.options;
  return {
    ...options,
    module: ts.ModuleKind.ES2022,
    sourceMap: false,
    declaration: false,
    declarationMap: false,
    composite: false,
  };
};
const optionsOf = new Map(['core', 'transport'].map((p) => [p, compilerOptions(p)]));

function emit(file, text) {
  const pkg = areaOf(file).package;
  const out = ts.transpileModule(text, {
    compilerOptions: optionsOf.get(pkg),
    fileName: file,
    reportDiagnostics: true,
  });
  return { js: out.outputText, errors: out.diagnostics?.length ?? 0 };
}

/** mulberry32: the choice of mutants depends only on the seed. */
function random(s) {
  let a = s >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function choose() {
  const next = random(seed);
  const byArea = new Map(areas.map((a) => [a.name, []]));
  const texts = new Map();
  for (const file of sourceFiles()) {
    const text = readFileSync(join(repo, file), 'utf8');
    texts.set(file, { text });
    byArea.get(areaOf(file).name).push(...mutantsOf(file, text));
  }
  const candidates = [...byArea.values()].reduce((n, list) => n + list.length, 0);
  // A seeded shuffle of each area, then round robin, so every area gets its share.
  for (const list of byArea.values())
    for (let i = list.length - 1; i > 0; i--) {
      const j = Math.floor(next() * (i + 1));
      [list[i], list[j]] = [list[j], list[i]];
    }
  // Not meaningful: a call that only observes (traces, spans, logs), a mutant that changes no
  // JavaScript (in a type position) or does not parse. Checked as they come up (a transpile each).
  let looked = 0;
  let notMeaningful = 0;
  const meaningful = (m) => {
    looked++;
    const file = texts.get(m.file);
    file.js ??= emit(m.file, file.text).js;
    const mutated = emit(m.file, apply(file.text, m));
    const ok = !m.tags.includes('observation') && mutated.errors === 0 && mutated.js !== file.js;
    if (!ok) notMeaningful++;
    return ok;
  };
  if (values.only) {
    // Named mutants (e.g. a survivor, to check the test written for it), whatever the seed.
    const only = new RegExp(values.only);
    const named = [...byArea.values()]
      .flat()
      .filter((m) => only.test(`${m.file}:${m.line} ${m.kind}: ${m.description}`) && meaningful(m));
    return { chosen: named.slice(0, count), candidates, meaningful: candidates, looked, notMeaningful };
  }
  const chosen = [];
  const cursors = new Map([...byArea.keys()].map((k) => [k, 0]));
  for (let progress = true; chosen.length < count && progress; ) {
    progress = false;
    for (const [name, list] of byArea) {
      if (chosen.length >= count) break;
      let i = cursors.get(name);
      while (i < list.length && !meaningful(list[i])) i++;
      if (i < list.length) {
        chosen.push(list[i]);
        progress = true;
      }
      cursors.set(name, i + 1);
    }
  }
  // The share of meaningful mutants among those looked at, applied to all candidates.
  const estimate = Math.round((candidates * (looked - notMeaningful)) / Math.max(1, looked));
  return { chosen, candidates, meaningful: estimate, looked, notMeaningful };
}

// ---- running one ----------------------------------------------------------------------------

/** Runs a command in its own process group; on timeout the whole group is killed. */
function run(cmd, args, { cwd, timeoutS }) {
  return new Promise((resolve) => {
    const child = spawn('nice', ['-n', '19', cmd, ...args], {
      cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0', TMPDIR: join(values.out, 'tmp') },
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    child.stderr.on('data', (d) => {
      out += d;
    });
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
    }, timeoutS * 1000);
    child.on('close', (code) => {
      clearTimeout(timer);
      // Whatever it left behind in its group goes too.
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {}
      resolve({ code, timedOut, out: stripVTControlCharacters(out) });
    });
  });
}

function sh(cmd, args, cwd) {
  const r = spawnSync(cmd, args, { cwd, stdio: ['ignore', 'pipe', 'inherit'], encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status})`);
  return r.stdout;
}

const scratch = values.scratch;
const distOf = (file) => file.replace('/src/', '/dist/').replace(/\.ts$/, '.js');
const bundle = (pkg) => sh('nice', ['-n', '19', 'node', `packages/${pkg}/scripts/bundle.mjs`], scratch);

async function runTests(area) {
  const files = area.tests.filter((f) => existsSync(join(scratch, f)));
  const r = await run('npx', ['vitest', 'run', '--bail=1', ...files], {
    cwd: scratch,
    timeoutS: Number(values['test-timeout']),
  });
  if (r.timedOut) return { caught: true, by: 'tests: timeout' };
  if (r.code === 0) return { caught: false };
  const failed = /FAIL\s+(\S+\.test\.ts)(?:\s+>\s+([^\n]*))?/.exec(r.out);
  return {
    caught: true,
    by: failed ? `${failed[1]}${failed[2] ? ` > ${failed[2].slice(0, 120)}` : ''}` : `tests: exit ${r.code}`,
    ...(!failed && { output: r.out.slice(-1500) }),
  };
}

async function runModel(area) {
  const r = await run(
    'node',
    ['scripts/mutants/model.mjs', '--schedules', values.schedules, ...area.scenarios],
    {
      cwd: scratch,
      timeoutS: Number(values['model-timeout']),
    },
  );
  if (r.timedOut) return { caught: true, by: 'model: timeout' };
  const line = r.out
    .split('\n')
    .reverse()
    .find((l) => l.startsWith('{'));
  if (!line) {
    // The world threw where the simulator could not catch it (an abort listener, say): in a real
    // process, an uncaught exception.
    const error = /^\w*Error\b.*$/m.exec(r.out)?.[0] ?? `exit ${r.code}`;
    return {
      caught: true,
      by: `model: uncaught exception (${error.slice(0, 100)})`,
      output: r.out.slice(-1500),
    };
  }
  const m = JSON.parse(line);
  return m.caught
    ? { caught: true, by: `model: ${m.scenario} / ${m.monitor} (${m.strategy}, ${m.schedules} schedules)` }
    : { caught: false, schedules: m.schedules };
}

async function check(area) {
  let t = Date.now();
  const tests = { ...(await runTests(area)), seconds: Math.round((Date.now() - t) / 1000) };
  if (tests.caught && !values.all) return { tests };
  t = Date.now();
  const model = { ...(await runModel(area)), seconds: Math.round((Date.now() - t) / 1000) };
  return { tests, model };
}

// ---- the run --------------------------------------------------------------------------------

function prepareScratch() {
  const head = sh('git', ['rev-parse', 'HEAD'], repo).trim();
  if (!existsSync(scratch)) {
    sh('git', ['worktree', 'add', '--detach', scratch, head], repo);
    // Hard links: the scratch tree shares this checkout's installed packages, read only.
    sh('cp', ['-al', join(repo, 'node_modules'), scratch], repo);
    for (const p of ['core', 'transport'])
      if (existsSync(join(repo, `packages/${p}/node_modules`)))
        sh('cp', ['-al', join(repo, `packages/${p}/node_modules`), join(scratch, `packages/${p}/`)], repo);
  } else {
    sh('git', ['checkout', '--detach', '--force', head], scratch);
  }
  // The scripts that run in it are this checkout's (they may be newer than HEAD).
  mkdirSync(join(scratch, 'scripts/mutants'), { recursive: true });
  writeFileSync(
    join(scratch, 'scripts/mutants/model.mjs'),
    readFileSync(join(repo, 'scripts/mutants/model.mjs')),
  );
  if (!values['no-build']) {
    process.stderr.write('building the scratch worktree…\n');
    sh('nice', ['-n', '19', 'npm', 'run', 'build'], scratch);
  }
  return head;
}

function markdown(report) {
  const lines = [
    `# Mutation run ${report.date}`,
    '',
    `Commit ${report.commit}, seed ${report.seed}, model budget ${report.schedules} schedules a scenario. ${report.mutants.length} of ${report.chosen} chosen mutants run; ${report.candidates} candidates, about ${report.meaningful} of them meaningful (the rest change no JavaScript or only observe).`,
    '',
    `**Caught ${report.caught} of ${report.mutants.length} (${report.percent}%)**: by the tests ${report.byTests}, by the model checker only ${report.byModel}. Survivors: ${report.survived}. Minutes: ${report.minutes}.`,
    '',
    '| # | area | file:line | mutation | caught by |',
    '| - | ---- | --------- | -------- | --------- |',
  ];
  report.mutants.forEach((m, i) => {
    const by = m.caught ? (m.model?.caught && !m.tests.caught ? m.model.by : m.tests.by) : '**survived**';
    const what = `${m.kind}: ${m.description}`.replaceAll('|', '\\|').replaceAll('\n', ' ');
    lines.push(
      `| ${i + 1} | ${m.area} | ${m.file.replace(/^packages\//, '')}:${m.line} | ${what} | ${by.replaceAll('|', '\\|')} |`,
    );
  });
  return `${lines.join('\n')}\n`;
}

/** Writes the reports (after every mutant, so a run cut short still leaves its figures). */
function write(results, { commit, seed, candidates, meaningful, start, total }) {
  const caught = results.filter((r) => r.caught).length;
  const report = {
    date: new Date().toISOString(),
    commit,
    seed,
    schedules: Number(values.schedules),
    candidates,
    meaningful,
    caught,
    byTests: results.filter((r) => r.tests.caught).length,
    byModel: results.filter((r) => !r.tests.caught && r.model?.caught).length,
    survived: results.length - caught,
    percent: results.length ? Math.round((1000 * caught) / results.length) / 10 : 0,
    minutes: Math.round((Date.now() - start) / 6000) / 10,
    chosen: total,
    mutants: results,
  };
  writeFileSync(join(values.out, 'mutants.json'), `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(join(values.out, 'mutants.md'), markdown(report));
  return report;
}

async function main() {
  const { chosen, candidates, meaningful, looked, notMeaningful } = choose();
  if (values.list) {
    console.log(
      `${candidates} candidates (~${meaningful} meaningful: ${notMeaningful} of ${looked} looked at were not), ${chosen.length} chosen`,
    );
    for (const m of chosen) console.log(`${m.file}:${m.line}  ${m.kind}: ${m.description}`);
    return 0;
  }
  mkdirSync(join(values.out, 'tmp'), { recursive: true });
  const start = Date.now();
  const commit = prepareScratch();
  // Every chosen mutant's file must emit, unmutated, exactly what tsc built: else the mutant
  // would be measured against a different program.
  for (const file of new Set(chosen.map((m) => m.file))) {
    const built = readFileSync(join(scratch, distOf(file)), 'utf8').replace(
      /\/\/# sourceMappingURL=.*\n?$/,
      '',
    );
    if (emit(file, readFileSync(join(scratch, file), 'utf8')).js !== built)
      throw new Error(`${file}: its transpiled output differs from tsc's; rebuild the scratch tree`);
  }
  // The unmutated tree must pass the area's tests, or a failure would count as a catch. (The
  // model's scenarios on the unbroken runtime are check:model's and npm test's own business.)
  if (!values['no-baseline'])
    for (const area of areas.filter((a) => chosen.some((m) => areaOf(m.file) === a))) {
      process.stderr.write(`baseline: ${area.name}…\n`);
      const base = await runTests(area);
      if (base.caught) throw new Error(`the unmutated ${area.name} fails its tests already: ${base.by}`);
    }
  const results = [];
  const run = { commit, seed, candidates, meaningful, start, total: chosen.length };
  for (const [i, m] of chosen.entries()) {
    const area = areaOf(m.file);
    const srcPath = join(scratch, m.file);
    const distPath = join(scratch, distOf(m.file));
    const source = readFileSync(srcPath, 'utf8');
    const built = readFileSync(distPath, 'utf8');
    const t0 = Date.now();
    let outcome;
    try {
      writeFileSync(srcPath, apply(source, m));
      writeFileSync(distPath, emit(m.file, apply(source, m)).js);
      bundle(area.package);
      outcome = await check(area);
    } finally {
      writeFileSync(srcPath, source);
      writeFileSync(distPath, built);
      bundle(area.package);
    }
    const caught = outcome.tests.caught || outcome.model?.caught === true;
    const result = {
      area: area.name,
      file: m.file,
      line: m.line,
      kind: m.kind,
      description: m.description,
      original: m.original.slice(0, 200),
      replacement: m.replacement.slice(0, 200),
      caught,
      ...outcome,
      seconds: Math.round((Date.now() - t0) / 1000),
    };
    results.push(result);
    const by = caught ? (outcome.tests.caught ? outcome.tests.by : outcome.model.by) : 'SURVIVED';
    write(results, run);
    process.stderr.write(
      `[${i + 1}/${chosen.length}] ${m.file}:${m.line} ${m.kind}: ${m.description} → ${by} (${result.seconds}s)\n`,
    );
  }
  const report = write(results, run);
  console.log(markdown(report));
  console.log(`reports: ${join(values.out, 'mutants.json')}, ${join(values.out, 'mutants.md')}`);
  return report.survived === 0 ? 0 : 1;
}

main().then(
  (code) => {
    process.exitCode = code;
  },
  (error) => {
    process.stderr.write(`check:mutants: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exitCode = 2;
  },
);
