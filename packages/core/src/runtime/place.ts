import { type RequestSpecBody, specGraph } from '../packets.js';
import type { RequestSpec } from '../scheduler/request.js';

/** Which pool runs one request (the task router's decision); may wait on a module's import. */
export type Place = (spec: RequestSpecBody) => RequestSpec | Promise<RequestSpec>;

/**
 * Places `roots` and every dependency they declare, each spec once (by identity, so a shared
 * dependency stays shared and a large graph costs linear time), keeping the declared graph's
 * shape among the placed specs. Synchronous unless some placement waits.
 */
export function placeAll(
  roots: readonly RequestSpecBody[],
  place: Place,
): RequestSpec[] | Promise<RequestSpec[]> {
  if (!roots.some((root) => root.deps !== undefined)) {
    const placed = roots.map(place);
    return placed.some((spec) => spec instanceof Promise) ? Promise.all(placed) : (placed as RequestSpec[]);
  }
  const { specs, index } = specGraph(roots);
  const placed = specs.map(place);
  const link = (all: RequestSpec[]): RequestSpec[] => {
    // Each placed spec is a copy: point its deps at the placed copies of its dependencies.
    specs.forEach((spec, at) => {
      if (spec.deps !== undefined)
        all[at]!.deps = spec.deps.map((dependency) => all[index.get(dependency)!]!);
    });
    return roots.map((root) => all[index.get(root)!]!);
  };
  return placed.some((spec) => spec instanceof Promise)
    ? Promise.all(placed).then(link)
    : link(placed as RequestSpec[]);
}
