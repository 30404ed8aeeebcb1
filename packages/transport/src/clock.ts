/**
 * Time, as the rest of troupe sees it. Nothing in `transport` or `core` reads the wall clock
 * or arms a timer except through a `Clock`, so a simulator can substitute virtual time.
 *
 * The shape is a superset of XState's clock, so the same object is passed to
 * `createActor(machine, { clock })` and delayed transitions run on it too.
 */
export type TimerId = unknown;

export interface Clock {
  /** Milliseconds on a monotonic scale; only differences are meaningful. */
  now(): number;
  setTimeout(callback: () => void, ms: number): TimerId;
  clearTimeout(id: TimerId): void;
}

/** The real clock: `performance.now()` and the host's timers. The one place troupe touches them. */
export const systemClock: Clock = {
  now: () => performance.now(),
  // Timers keep the process alive, as ordinary timers do: a host awaiting a shutdown back-off
  // must not exit halfway and orphan its nodes. Every troupe timer is cleared when its wait ends.
  setTimeout: (callback, ms) => setTimeout(callback, ms),
  clearTimeout: (id) => clearTimeout(id as ReturnType<typeof setTimeout>),
};

/**
 * Whether `promise` fulfils within `ms` on `clock`: true if it does, false if it rejects or the
 * time is up first. The timer is cleared as soon as the promise settles.
 */
export function fulfilsWithin(clock: Clock, promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = clock.setTimeout(() => resolve(false), ms);
    const settle = (fulfilled: boolean) => () => {
      clock.clearTimeout(timer);
      resolve(fulfilled);
    };
    promise.then(settle(true), settle(false));
  });
}
