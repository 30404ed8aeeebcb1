// The live view in a real browser (docs/dashboard.md): Debian's chromium, driven by
// playwright-core, opens the page of a real build-graph run on thread nodes and watches the nodes
// appear, requests reach completed, a node's machines lit in their current states, and the page
// keep the run's last state once the run has ended and its server is gone.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { launchChromium } from '../scripts/chromium.mjs';

const main = new URL('../dist/main.js', import.meta.url).pathname;
const PROJECTS = 40;

let child: ChildProcess | undefined;
let browser: Awaited<ReturnType<typeof launchChromium>> | undefined;
let directory: string | undefined;

afterEach(async () => {
  if (child && child.exitCode === null && child.signalCode === null) {
    const gone = new Promise((resolve) => child!.once('close', resolve));
    child.kill('SIGKILL');
    await gone;
  }
  child = undefined;
  await browser?.close();
  browser = undefined;
  if (directory) await rm(directory, { recursive: true, force: true });
  directory = undefined;
});

/** The states lit in the chart `chart` of the node machines panel. */
function lit(page: Page, chart: string): Promise<string[]> {
  return page
    .locator(`#node-machines svg[data-chart="${chart}"] g.state.on`)
    .evaluateAll((groups) => groups.map((group) => group.getAttribute('data-state')!).sort());
}

function completed(page: Page): Promise<number> {
  return page
    .locator('[data-count="completed"]')
    .textContent({ timeout: 100 })
    .then((text) => Number(text?.split(' ')[1] ?? 0))
    .catch(() => 0);
}

describe('the live view in chromium', () => {
  it('shows a real run as it goes, and keeps its last state after the run has ended', async () => {
    directory = await mkdtemp(join(tmpdir(), 'troupe-dashboard-'));
    // The browser first: it takes longer to start than the run takes to begin.
    browser = await launchChromium();
    const run = spawn(
      process.execPath,
      [
        main,
        '--kind',
        'thread',
        '--nodes',
        '2',
        '--projects',
        String(PROJECTS),
        '--work-ms',
        '120',
        '--dashboard',
      ],
      { env: { ...process.env, TMPDIR: directory }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    child = run;
    let out = '';
    run.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
    });
    const exited = new Promise<number | null>((resolve) => run.once('close', (code) => resolve(code)));
    const url = await new Promise<string>((resolve, reject) => {
      let err = '';
      run.stderr!.on('data', (chunk: Buffer) => {
        err += chunk.toString();
        const found = /live view: (http:\/\/127\.0\.0\.1:\d+\/)\n/.exec(err);
        if (found) resolve(found[1]!);
      });
      void exited.then((code) =>
        reject(new Error(`the example exited (${code}) without a live view: ${err}`)),
      );
    });
    const page = await browser.context.newPage();
    await page.goto(url);

    // Nodes appear, the first node's machines drawn beside them.
    await page.locator('[data-node]').first().waitFor({ timeout: 20_000 });
    await page.locator('.cards [data-node]').nth(1).waitFor({ timeout: 20_000 });
    // Mid-run: the selected node is connected and its endpoint has accepted this host. The lit
    // states of its three machines are read in one go, from one drawing of the page.
    const machines = page.locator('#node-machines');
    await machines
      .locator('svg[data-chart="nodeEndpoint"] g.state.on[data-state="active"]')
      .waitFor({ timeout: 20_000 });
    const [context, endpoint, writer] = await machines.evaluate((panel) =>
      ['nodeContext', 'nodeEndpoint', 'writerQueue'].map((chart) =>
        [...panel.querySelectorAll(`svg[data-chart="${chart}"] g.state.on`)]
          .map((g) => g.getAttribute('data-state')!)
          .sort(),
      ),
    );
    expect(await completed(page)).toBeLessThan(PROJECTS);
    expect(endpoint).toEqual(['active']);
    // A parallel machine: one state lit in each region, with the states that contain it.
    expect(context).toEqual([
      'connection',
      'connection.active',
      expect.stringMatching(/^connection\.active\.(quiet|watching)$/),
      'exitPacket',
      'exitPacket.none',
    ]);
    expect(writer).toEqual([expect.stringMatching(/^(flowing|awaitingDrain)$/)]);

    const executing = page.locator('#requests tr[data-state="executing"]').first();
    await executing.waitFor({ timeout: 20_000 });
    const moving = await executing.getAttribute('data-request');

    // Requests move to completed, and the page hears the run end.
    await page.locator('#status[data-status="ended"]').waitFor({ timeout: 40_000 });
    expect(await exited).toBe(0);
    expect(out).toContain(`built ${PROJECTS}, failed 0`);
    expect(out).toContain("verified: every project's output equals a sequential evaluation");

    // The server is gone with its process; the page keeps the run's last state.
    expect(await page.locator('#status').textContent()).toBe('run ended');
    expect(await completed(page)).toBe(PROJECTS);
    expect(await page.locator('.cards [data-node]').count()).toBe(2);
    expect(await lit(page, 'nodeContext')).toEqual(
      expect.arrayContaining(['connection', 'connection.closed', 'exitPacket']),
    );
    expect(await page.locator('#requests tr[data-state="completed"]').count()).toBeGreaterThan(0);
    expect(await page.locator(`#requests tr[data-request="${moving}"]`).getAttribute('data-state')).toBe(
      'completed',
    );
    expect(await page.locator('#requests tr[data-state]:not([data-state="completed"])').count()).toBe(0);
    expect(await page.locator('#timeline rect.span').count()).toBeGreaterThanOrEqual(PROJECTS);
  });
});
