import { createHandshake, encodeHandshake } from '@troupe/transport/internal';
import { systemIdentity } from '../system/launcher.js';
import { NodeRegistry } from '../system/registry.js';
import { NodeContext } from './context.js';
import type { ProcessNodeSetup } from './process-options.js';
import type { AcquireOptions } from './provider.js';

/**
 * The idle nodes of this user that a provider may reuse: those in the registry whose handshake
 * is this provider's, MSBuild style. Remembers the ones that refused or could not be reached.
 */
export class IdleNodes {
  readonly #setup: ProcessNodeSetup;
  readonly #registry: NodeRegistry;
  readonly #handshakeKey: string;
  /** Pids that refused or could not be reached, per handshake: not tried again by this host. */
  readonly #tried = new Set<string>();
  /** The claim under way: claims take turns (`claim`). */
  #turn: Promise<unknown> = Promise.resolve();

  constructor(setup: ProcessNodeSetup) {
    this.#setup = setup;
    this.#registry = new NodeRegistry(setup.transport.directory);
    this.#handshakeKey = encodeHandshake(createHandshake(setup.handshake)).toString('hex');
  }

  /**
   * Connects to up to `count` idle nodes and hands each that accepted this host to `reused`;
   * nodes in `ours()` (pids this provider holds already) are not candidates. `created` hears of
   * each context tried (`AcquireOptions`).
   *
   * Claims take turns. A claim connects to every candidate and lets go of those it does not
   * need; a second claim made meanwhile found them taken by this very host, was refused as busy,
   * never tried them again, and launched nodes while idle ones waited (a pool growing a node at a
   * time does exactly that). Its turn comes once the first has kept or let go of each.
   */
  claim(
    count: number,
    ours: () => ReadonlySet<number | undefined>,
    reused: (node: NodeContext) => void,
    created?: AcquireOptions['created'],
  ): Promise<NodeContext[]> {
    const turn = this.#turn.then(() => this.#claim(count, ours(), reused, created));
    this.#turn = turn.catch(() => {});
    return turn;
  }

  async #claim(
    count: number,
    ours: ReadonlySet<number | undefined>,
    reused: (node: NodeContext) => void,
    created?: AcquireOptions['created'],
  ): Promise<NodeContext[]> {
    const setup = this.#setup;
    const hostPid = systemIdentity().pid;
    const candidates = (await this.#registry.list(0)).filter(
      (record) =>
        record.handshake === this.#handshakeKey &&
        record.pid !== hostPid &&
        !ours.has(record.pid) &&
        !this.#tried.has(`${record.handshake}|${record.pid}`),
    );
    // Connect to every candidate at once; a busy one refuses, and the first `count` to accept win.
    const attempts = await Promise.allSettled(
      candidates.map(async (record) => {
        const node = new NodeContext({
          id: setup.ids.next('node'),
          kind: 'process',
          process: setup.launcher.attach(record.pid, record.outputFile),
          nodeReuse: true,
          clock: setup.clock,
          ids: setup.ids,
          connect: (onLink) =>
            setup.transport.connect(record.address, {
              handshake: setup.handshake,
              clock: setup.clock,
              connectTimeoutMs: 2_000,
              onLink,
            }),
        });
        created?.(node, 'reused');
        await node.start(hostPid);
        return node;
      }),
    );
    const claimed: NodeContext[] = [];
    for (const [index, attempt] of attempts.entries()) {
      if (attempt.status !== 'fulfilled') {
        // MSBuild's rule: a node that refused (busy) or could not be reached is not tried again
        // for this handshake by this host. One we connected to and let go stays a candidate.
        const record = candidates[index]!;
        this.#tried.add(`${record.handshake}|${record.pid}`);
        continue;
      }
      if (claimed.length < count) {
        claimed.push(attempt.value);
        reused(attempt.value);
      } else {
        await attempt.value.close({ reuse: true });
      }
    }
    return claimed;
  }
}
