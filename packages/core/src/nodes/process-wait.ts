import type { Clock } from '@troupe/transport';
import type { NodeProcess } from '../system/launcher.js';
import type { ShutdownTimeouts } from './process-options.js';

/** A pause on the injected clock (the simulator's, in a model check). */
export function sleep(clock: Clock, ms: number): Promise<void> {
  return new Promise((resolve) => clock.setTimeout(resolve, ms));
}

/**
 * Polls with back-off (5 ms doubling to 500 ms by default) until the node's process is gone.
 * Resolves false if it is still there after `timeoutMs`. `paused` hears of each pause.
 */
export async function waitForExit(
  clock: Clock,
  nodeProcess: Pick<NodeProcess, 'isAlive'>,
  timeoutMs: number,
  timeouts: ShutdownTimeouts & { paused?: (ms: number) => void } = {},
): Promise<boolean> {
  let pause = timeouts.exitPollStartMs ?? 5;
  const longest = timeouts.exitPollMaxMs ?? 500;
  let waited = 0;
  while (nodeProcess.isAlive()) {
    if (waited >= timeoutMs) return false;
    const step = Math.min(pause, timeoutMs - waited);
    timeouts.paused?.(step);
    await sleep(clock, step);
    waited += step;
    pause = Math.min(pause * 2, longest);
  }
  return true;
}
