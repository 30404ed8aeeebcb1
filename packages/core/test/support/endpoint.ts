// The two sides of one connection for tests: a node endpoint (the node's side) and a node context
// (the host's side), over memory links unless a test picks a transport. The endpoint's tests and
// the node context's both use them.
import { NodeContext } from '@troupe/core';
import { NodeEndpoint } from '@troupe/core/internal';
import { MemoryTransport, type Transport } from '@troupe/transport';

/** What a test started, undone in reverse order by the test file's afterEach. */
export type Cleanups = Array<() => Promise<unknown> | unknown>;

/** Starts endpoints and hosts, each registering its own cleanup in `cleanups`. */
export function endpointWorld(cleanups: Cleanups) {
  let ids = 0;
  return {
    async startEndpoint(transport: Transport = new MemoryTransport(), idleTimeoutMs = 60_000) {
      const endpoint = await NodeEndpoint.start({ transport, idleTimeoutMs });
      const logs: string[] = [];
      endpoint.on('log', (line) => logs.push(line));
      cleanups.push(() => endpoint.exit());
      return { endpoint, logs, transport };
    },

    /** A host's node context for the endpoint at `address`, not yet started. */
    host(transport: Transport, address: string, handshake = {}) {
      const node = new NodeContext({
        id: `node-test${++ids}`,
        kind: 'inproc',
        connect: (onLink) => transport.connect(address, { handshake, onLink }),
      });
      cleanups.push(() => node.close({ reuse: false }));
      return node;
    },
  };
}

/** Waits, a turn of the event loop at a time (at most 2,000), until `predicate` holds. */
export function until(predicate: () => boolean, what: string): Promise<void> {
  return new Promise((resolve, reject) => {
    let tries = 0;
    const check = () => {
      if (predicate()) resolve();
      else if (++tries > 2_000) reject(new Error(`gave up waiting for ${what}`));
      else setImmediate(check);
    };
    check();
  });
}
