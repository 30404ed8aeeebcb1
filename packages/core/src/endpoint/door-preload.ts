// A node's head start on its first task module: most import @troupe/core (for defineTask), and the
// door's modules are the largest part of that import (~25–35 ms of reading and compiling on the
// 2-core development machine). A node that has just started listening waits for its host (the
// handshake, the host's configuration, the first request); loading the door then fills that wait.

/**
 * Starts importing @troupe/core's door as a task module would import it; resolves to the door's
 * module, or undefined if it could not be loaded (nobody needs to wait for it). The
 * name is resolved by Node from this package (its own `exports`), to the same file a task module
 * in the workspace or in a user's project reaches, so the task's import finds it loaded or on its
 * way. The specifier is a variable so that the bundler leaves it to Node. A door that cannot be
 * loaded here (tsc's output without the bundle, a package moved away) costs nothing but the try:
 * a task that needs it says why when it imports it itself.
 */
export function preloadDoor(): Promise<unknown> {
  const door = '@troupe/core';
  return import(door).catch(() => undefined);
}
