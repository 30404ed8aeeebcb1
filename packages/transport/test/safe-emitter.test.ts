// SafeEmitter: an announcement whose listener throws does not throw into the code that made it.
import { setUnhandledErrorReporter } from '@troupe/transport';
import { SafeEmitter } from '@troupe/transport/internal';
import { afterEach, describe, expect, it } from 'vitest';

class Announcer extends SafeEmitter<{ tick: [n: number] }> {
  announce(n: number): void {
    this.emitSafely('tick', n);
  }
}

const restores: Array<() => void> = [];
afterEach(() => {
  for (const restore of restores.splice(0)) restore();
});

describe('SafeEmitter.emitSafely', () => {
  it('reports a listener that throws, returns normally, and the next event still arrives', () => {
    const reported: unknown[] = [];
    restores.push(setUnhandledErrorReporter((error) => reported.push(error)));
    const announcer = new Announcer();
    const heard: number[] = [];
    const boom = new Error('listener failed');
    announcer.on('tick', (n) => {
      heard.push(n);
      if (n === 1) throw boom;
    });
    expect(() => announcer.announce(1)).not.toThrow();
    expect(reported).toEqual([boom]);
    announcer.announce(2);
    expect(heard).toEqual([1, 2]);
    expect(reported).toEqual([boom]);
  });
});
