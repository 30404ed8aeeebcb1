// The remote node provider: nodes on other machines, launched through a prefix or dialled at
// static endpoints (remote-launch.ts). It reads the secret and TLS files it is pointed at (node:fs)
// and removes launched nodes' output files.
import { readFile, unlink } from 'node:fs/promises';
import type { ConnectionOptions } from 'node:tls';
import { PipeTransport, systemClock, systemRandom, TcpTransport, TroupeError } from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import { createIdSource } from '../ids.js';
import { checkShape } from '../options.js';
import { processLauncher } from '../system/launcher.js';
import type { NodeContext } from './context.js';
import { waitForExit } from './process-wait.js';
import type { AcquireOptions, NodeProvider, NodeWarning, ReleaseOptions } from './provider.js';
import {
  dialEndpoint,
  type LaunchedNode,
  launchLocation,
  launchRemote,
  type RemoteCredentials,
  type RemoteSetup,
} from './remote-launch.js';
import {
  checkRemote,
  isPem,
  type RemoteLaunch,
  type RemoteNodeProviderOptions,
  remoteShape,
} from './remote-options.js';

export type {
  RemoteLaunch,
  RemoteNodeProviderOptions,
  RemoteSecret,
  RemoteTls,
} from './remote-options.js';

export interface RemoteNodeProviderEvents {
  /** Something went wrong that did not fail the caller, e.g. a launcher that had to be killed. */
  warning: [warning: NodeWarning];
  /** A node was launched, or an endpoint connected, and accepted this host. */
  node: [node: NodeContext, how: 'launched' | 'reused'];
}

/** One place a node can be: one of a launch entry's `nodes`, or one endpoint. */
type Slot =
  | { kind: 'launch'; entry: RemoteLaunch; location: string }
  | { kind: 'endpoint'; location: string };

/**
 * Nodes on other machines (`nodes: { kind: 'remote' }`): each launch entry starts `nodes` nodes
 * through its prefix (`ssh build-02 --`), each endpoint is one node started by something else
 * with `--reuse`. A node serves one host at a time; a busy endpoint, or a launch that fails, is
 * passed over for the next free one. All or nothing, as process nodes: `acquire` gives `count`
 * nodes or an error naming each that failed.
 *
 * At the end, a launched node gets the exit packet, then its stdin is closed (the launcher's
 * session holds it: the session ends, and the node with it), then the launcher's tree is killed
 * if it lingers. An endpoint's node is released for the next host (it goes back to waiting).
 */
export class RemoteNodeProvider extends EventEmitter<RemoteNodeProviderEvents> implements NodeProvider {
  readonly kind = 'remote' as const;
  readonly #setup: RemoteSetup;
  readonly #slots: readonly Slot[];
  /** What holds each slot: a node, or a launch or dial on its way. */
  readonly #held = new Map<Slot, NodeContext | 'starting'>();
  readonly #slotOf = new Map<NodeContext, Slot>();
  readonly #launched = new Map<NodeContext, LaunchedNode>();
  readonly #nodes = new Set<NodeContext>();
  #credentials: Promise<RemoteCredentials> | undefined;

  constructor(options: RemoteNodeProviderOptions) {
    super();
    checkShape(options, remoteShape, '');
    checkRemote(options, '');
    const random = options.random ?? systemRandom;
    this.#setup = {
      options,
      launcher: options.launcher ?? processLauncher,
      transport: options.transport ?? new TcpTransport({ random }),
      clock: options.clock ?? systemClock,
      random,
      ids: createIdSource(random),
      outputDirectory: new PipeTransport({ random }).directory,
      connectTimeoutMs: options.connectTimeoutMs ?? 30_000,
    };
    const slots: Slot[] = [];
    for (const entry of options.launch ?? [])
      for (let index = 0; index < (entry.nodes ?? 1); index++)
        slots.push({ kind: 'launch', entry, location: launchLocation(entry) });
    for (const endpoint of options.endpoints ?? []) slots.push({ kind: 'endpoint', location: endpoint });
    this.#slots = slots;
  }

  /** How many nodes it can hold at once: every launch entry's `nodes`, plus the endpoints. */
  get capacity(): number {
    return this.#slots.length;
  }

  /** The nodes this provider holds now. */
  get nodes(): readonly NodeContext[] {
    return [...this.#nodes];
  }

  /** The last incarnation given to each static endpoint's connection. */
  readonly #incarnations = new Map<string, number>();

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    this.#credentials ??= this.#readCredentials();
    // A secret file that cannot be read now may be there at the next growth.
    this.#credentials.catch(() => {
      this.#credentials = undefined;
    });
    const credentials = await this.#credentials;
    const free = this.#slots.filter((slot) => !this.#held.has(slot)).length;
    if (count > free)
      throw new TroupeError(
        `asked for ${count} remote nodes; ${free} of the ${this.#slots.length} configured are free`,
      );
    const tried = new Set<Slot>();
    const failures: Error[] = [];
    // Each node takes the next slot nobody holds or tried; one that fails (a busy endpoint, a
    // machine that does not answer) passes its turn to the next.
    const one = async (): Promise<NodeContext> => {
      for (;;) {
        const slot = this.#slots.find((candidate) => !this.#held.has(candidate) && !tried.has(candidate));
        if (!slot) throw failures.at(-1) ?? new TroupeError('no remote node is free');
        tried.add(slot);
        this.#held.set(slot, 'starting');
        try {
          const node = await this.#start(slot, credentials, options);
          this.#held.set(slot, node);
          return node;
        } catch (error) {
          this.#held.delete(slot);
          failures.push(error as Error);
          if (options.signal?.aborted) throw error;
        }
      }
    };
    const results = await Promise.allSettled(Array.from({ length: count }, one));
    const nodes = results.flatMap((result) => (result.status === 'fulfilled' ? [result.value] : []));
    if (nodes.length < count) {
      // All or nothing: the caller asked for `count` nodes and gets an error, not a partial set.
      await this.shutdown(nodes);
      throw failures.length === 1
        ? failures[0]
        : new TroupeError(
            `could not start ${count - nodes.length} of ${count} remote nodes: ${failures
              .map((failure) => failure.message.split('\n')[0])
              .join('; ')}`,
            { cause: failures[0] },
          );
    }
    return nodes;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes, _options: ReleaseOptions = {}): Promise<void> {
    await Promise.all(nodes.map((node) => this.#shutdownOne(node)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  async #start(slot: Slot, credentials: RemoteCredentials, options: AcquireOptions): Promise<NodeContext> {
    let node: NodeContext;
    if (slot.kind === 'endpoint') {
      // Each connection to an endpoint is a new incarnation of that node: what an earlier one that
      // was declared lost still sends is fenced off by the host (docs/protocol.md, Fencing).
      const incarnation = (this.#incarnations.get(slot.location) ?? 0) + 1;
      this.#incarnations.set(slot.location, incarnation);
      node = await dialEndpoint(this.#setup, credentials, slot.location, options, incarnation);
    } else {
      const launched = await launchRemote(this.#setup, credentials, slot.entry, options);
      node = launched.node;
      this.#launched.set(node, launched);
    }
    this.#nodes.add(node);
    // A node lost on its own (its machine went away, or silent past the heartbeat timeout) frees
    // its place for a replacement the moment the host gives up on it, not once its link has
    // drained: the pool replaces it at once.
    node.on('shutdown', (body) => {
      if (body.reason === 'ConnectionFailed') void this.#release(node, slot);
    });
    this.#slotOf.set(node, slot);
    this.emit('node', node, slot.kind === 'endpoint' ? 'reused' : 'launched');
    return node;
  }

  async #shutdownOne(node: NodeContext): Promise<void> {
    const slot = this.#slotOf.get(node);
    if (!slot) return;
    const timeouts = this.#setup.options.shutdown ?? {};
    const launched = this.#launched.get(node);
    if (!launched) {
      // A static endpoint's node is not this host's to end: it goes back to waiting for the next.
      await node.close({ reuse: true });
      await this.#release(node, slot);
      return;
    }
    await node.close({ reuse: false, drainTimeoutMs: timeouts.drainTimeoutMs ?? 100 });
    await this.#release(node, slot);
  }

  /**
   * Lets go of a node: a launched one's stdin is closed (its session, and so the node, ends),
   * its launcher waited for, then killed with its tree; its slot is free again.
   */
  async #release(node: NodeContext, slot: Slot): Promise<void> {
    if (this.#slotOf.get(node) !== slot) return;
    this.#slotOf.delete(node);
    this.#nodes.delete(node);
    // Free at once: a lost node's replacement may start there while its launcher is still ended.
    if (this.#held.get(slot) === node) this.#held.delete(slot);
    const launched = this.#launched.get(node);
    this.#launched.delete(node);
    if (launched) {
      const { clock } = this.#setup;
      const timeouts = this.#setup.options.shutdown ?? {};
      launched.launched.endInput?.();
      const exitTimeoutMs = timeouts.exitTimeoutMs ?? 5_000;
      if (!(await waitForExit(clock, launched.launched, exitTimeoutMs, timeouts))) {
        launched.launched.killTree();
        const killed = await waitForExit(clock, launched.launched, timeouts.killTimeoutMs ?? 5_000);
        this.emit('warning', {
          nodeId: node.id,
          pid: node.pid,
          message: `remote node ${node.id} (${slot.location}) did not end within ${exitTimeoutMs} ms of its exit packet and the end of its stdin; its launcher (pid ${launched.launched.pid}) was killed${killed ? '' : ' but is still there'}`,
        });
      }
      await unlink(launched.outputFile).catch(() => {});
    }
  }

  /** The secret (given, read from its variable or file, or made fresh for launched nodes) and TLS files. */
  async #readCredentials(): Promise<RemoteCredentials> {
    const { options, random } = this.#setup;
    let secret: string | undefined;
    const given = options.secret;
    if (typeof given === 'string') secret = given;
    else if (given && 'env' in given) {
      secret = process.env[given.env];
      if (!secret) throw new TroupeError(`nodes.secret: the variable ${given.env} is not set or empty`);
    } else if (given && 'file' in given) {
      try {
        secret = (await readFile(given.file, 'utf8')).replace(/\r?\n$/, '');
      } catch (error) {
        throw new TroupeError(`nodes.secret: cannot read ${given.file}: ${(error as Error).message}`, {
          cause: error,
        });
      }
      if (!secret) throw new TroupeError(`nodes.secret: ${given.file} is empty`);
    } else if (!options.insecure && (options.launch?.length ?? 0) > 0) {
      // Launched nodes read it from their stdin: a fresh one per run, never written anywhere.
      secret = random.id(32);
    }
    let tls: ConnectionOptions | undefined;
    if (options.tls) {
      const load = async (value: string | undefined) =>
        value === undefined ? undefined : isPem(value) ? value : await readFile(value, 'utf8');
      const [ca, cert, key] = await Promise.all([
        load(options.tls.ca),
        load(options.tls.cert),
        load(options.tls.key),
      ]);
      tls = {
        ...(ca !== undefined && { ca }),
        ...(cert !== undefined && { cert }),
        ...(key !== undefined && { key }),
        ...(options.tls.servername !== undefined && { servername: options.tls.servername }),
      };
    }
    return { secret, tls };
  }
}
