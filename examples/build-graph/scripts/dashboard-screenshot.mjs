// Takes docs/dashboard.png from a real run: the build-graph example on thread nodes with
// --dashboard, opened in Debian's chromium halfway through. `--agent` shoots the job-agent
// example instead (docs/dashboard-jobs.png). Run after `npm run build`:
//     node examples/build-graph/scripts/dashboard-screenshot.mjs [--agent]
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { launchChromium } from './chromium.mjs';

const agent = process.argv.includes('--agent');
const root = fileURLToPath(new URL('../../../', import.meta.url));
const [script, args, file] = agent
  ? ['examples/job-agent/dist/main.js', ['--dashboard'], 'docs/dashboard-jobs.png']
  : [
      'examples/build-graph/dist/main.js',
      ['--projects', '60', '--work-ms', '300', '--nodes', '3', '--kind', 'thread', '--dashboard'],
      'docs/dashboard.png',
    ];

// The browser first: it takes longer to start than the job agent takes to run.
const browser = await launchChromium();
const child = spawn(process.execPath, [script, ...args], { cwd: root, stdio: ['ignore', 'ignore', 'pipe'] });
try {
  const url = await new Promise((resolve, reject) => {
    let seen = '';
    child.stderr.on('data', (chunk) => {
      seen += chunk;
      const found = /live view: (\S+)/.exec(seen);
      if (found) resolve(found[1]);
    });
    child.once('exit', (code) =>
      reject(new Error(`the example exited (${code}) before serving its live view`)),
    );
  });
  const page = await browser.context.newPage();
  await page.goto(url);
  if (agent) await page.waitForSelector('[data-job]', { timeout: 30_000 });
  else
    await page.waitForFunction(
      // Halfway: some requests done, some running, the rest waiting.
      () =>
        Number(document.querySelector('[data-count="completed"]')?.textContent?.split(' ')[1] ?? 0) >= 20 &&
        document.querySelector('[data-count="executing"]') !== null,
      undefined,
      { timeout: 30_000 },
    );
  await page.screenshot({ path: `${root}${file}`, fullPage: true });
  console.log(`wrote ${file}`);
} finally {
  child.kill();
  await browser.close();
}
