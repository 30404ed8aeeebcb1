import { TroupeError } from '@troupe/transport';
import type { NodeContext } from './context.js';
import type { ProcessNodeProvider } from './process.js';
import type { AcquireOptions, NodeProvider, ReleaseOptions } from './provider.js';
import type { RemoteNodeProvider } from './remote.js';

/**
 * One pool of local process nodes beside remote ones (`nodes: { kind: 'remote', local: N }`): a
 * growth takes local nodes first, while fewer than `local` are held (they cost no network), then
 * remote ones. The scheduler sees one pool; a node says where it runs (`location`). All or
 * nothing, as each provider is: a part that fails gives back what the other part gave.
 */
export class MixedNodeProvider implements NodeProvider {
  readonly kind = 'remote' as const;
  readonly local: ProcessNodeProvider;
  readonly remote: RemoteNodeProvider;
  readonly #localMax: number;
  /** Local nodes held or on their way: counted when asked for, so two growths do not both take the last. */
  #localTaken = 0;
  readonly #localNodes = new Set<NodeContext>();

  constructor(local: ProcessNodeProvider, localMax: number, remote: RemoteNodeProvider) {
    this.local = local;
    this.remote = remote;
    this.#localMax = localMax;
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    const fromLocal = Math.min(count, Math.max(0, this.#localMax - this.#localTaken));
    this.#localTaken += fromLocal;
    const [local, remote] = await Promise.allSettled([
      fromLocal > 0 ? this.local.acquire(fromLocal, options) : Promise.resolve([]),
      count - fromLocal > 0 ? this.remote.acquire(count - fromLocal, options) : Promise.resolve([]),
    ]);
    if (local.status === 'fulfilled') {
      for (const node of local.value) {
        this.#localNodes.add(node);
        void node.whenClosed.then(() => {
          if (node.state === 'failed') this.#forgetLocal(node);
        });
      }
    } else this.#localTaken -= fromLocal;
    if (local.status === 'rejected' || remote.status === 'rejected') {
      if (local.status === 'fulfilled') await this.shutdown(local.value);
      if (remote.status === 'fulfilled') await this.remote.shutdown(remote.value);
      const failure = local.status === 'rejected' ? local.reason : (remote as PromiseRejectedResult).reason;
      throw failure instanceof Error ? failure : new TroupeError(String(failure));
    }
    return [...local.value, ...remote.value];
  }

  async shutdown(nodes?: readonly NodeContext[], options: ReleaseOptions = {}): Promise<void> {
    const local = nodes ? nodes.filter((node) => this.#localNodes.has(node)) : undefined;
    const remote = nodes ? nodes.filter((node) => !this.#localNodes.has(node)) : undefined;
    await Promise.all([
      (local === undefined || local.length > 0) && this.local.shutdown(local, options),
      (remote === undefined || remote.length > 0) && this.remote.shutdown(remote, options),
    ]);
    for (const node of local ?? [...this.#localNodes]) this.#forgetLocal(node);
  }

  #forgetLocal(node: NodeContext): void {
    if (this.#localNodes.delete(node)) this.#localTaken--;
  }
}
