import { FINISHED, type ScheduledRequest } from './request.js';

// Promises of a request's end. The callbacks live on the request (`onSettled`), not in a map
// beside it or in a promise per request: most requests are never awaited one by one.

/** Resolves when the request completed, failed or was cancelled. */
export function whenSettled(request: ScheduledRequest): Promise<ScheduledRequest> {
  if (FINISHED.has(request.state)) return Promise.resolve(request);
  return new Promise((resolve) => onSettled(request, resolve));
}

/** Resolves when every one of `requests` has completed, failed or was cancelled. */
export function whenAllSettled(requests: readonly ScheduledRequest[]): Promise<void> {
  let remaining = 0;
  for (const request of requests) if (!FINISHED.has(request.state)) remaining++;
  if (remaining === 0) return Promise.resolve();
  return new Promise((resolve) => {
    const one = () => {
      if (--remaining === 0) resolve();
    };
    for (const request of requests) if (!FINISHED.has(request.state)) onSettled(request, one);
  });
}

/** `request` has ended: whoever waits for its end hears, once. */
export function settle(request: ScheduledRequest): void {
  const settled = request.onSettled;
  request.onSettled = undefined;
  if (settled) for (const resolve of settled) resolve(request);
}

function onSettled(request: ScheduledRequest, callback: (request: ScheduledRequest) => void): void {
  if (request.onSettled) request.onSettled.push(callback);
  else request.onSettled = [callback];
}
