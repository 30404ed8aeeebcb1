// The process node provider: its nodes are real processes (started through the injected Launcher),
// so it removes the output file and socket a node that died leaves behind (node:fs).
import { unlink } from 'node:fs/promises';
import { PipeTransport, systemClock, systemRandom } from '@troupe/transport';
import { EventEmitter } from 'eventemitter3';
import { createIdSource } from '../ids.js';
import { checkShape } from '../options.js';
import { processLauncher } from '../system/launcher.js';
import { nodeName } from '../system/registry.js';
import type { NodeContext } from './context.js';
import { launchNode } from './process-launch.js';
import {
  type ProcessNodeProviderEvents,
  type ProcessNodeProviderOptions,
  type ProcessNodeSetup,
  processShape,
} from './process-options.js';
import { IdleNodes } from './process-reuse.js';
import { waitForExit } from './process-wait.js';
import type { AcquireOptions, NodeProvider, ReleaseOptions } from './provider.js';

export {
  type NodeExitStep,
  type ProcessNodeProviderEvents,
  type ProcessNodeProviderOptions,
  processShape,
  type ShutdownTimeouts,
} from './process-options.js';

/**
 * Process nodes, MSBuild style: reuse idle nodes of this user whose handshake matches
 * (`process-reuse.ts`), launch the rest (`process-launch.ts`), connect over a per-user Unix
 * socket, and at the end ask politely (exit packet), wait with back-off, then kill the process
 * tree. This class holds the nodes it handed out and their output files, and shuts them down.
 */
export class ProcessNodeProvider extends EventEmitter<ProcessNodeProviderEvents> implements NodeProvider {
  readonly kind = 'process' as const;
  readonly reuse: boolean;
  readonly #setup: ProcessNodeSetup;
  readonly #idle: IdleNodes;
  readonly #nodes = new Set<NodeContext>();
  readonly #outputFiles = new Map<NodeContext, string>();

  constructor(options: ProcessNodeProviderOptions = {}) {
    super();
    checkShape(options, processShape, '');
    this.reuse = options.reuse ?? false;
    const random = options.random ?? systemRandom;
    this.#setup = {
      options,
      reuse: this.reuse,
      launcher: options.launcher ?? processLauncher,
      random,
      transport: options.transport ?? new PipeTransport({ random }),
      clock: options.clock ?? systemClock,
      ids: createIdSource(random),
      handshake: {
        nodeReuse: this.reuse,
        lowPriority: options.lowPriority ?? false,
        taskHost: options.taskHost ?? false,
        ...(options.session !== undefined && { session: options.session }),
        ...(options.runtimeVersion !== undefined && { runtimeVersion: options.runtimeVersion }),
      },
    };
    this.#idle = new IdleNodes(this.#setup);
  }

  /** The nodes this provider holds now. */
  get nodes(): readonly NodeContext[] {
    return [...this.#nodes];
  }

  async acquire(count: number, options: AcquireOptions = {}): Promise<NodeContext[]> {
    options.signal?.throwIfAborted();
    const nodes: NodeContext[] = this.reuse
      ? await this.#idle.claim(
          count,
          () => new Set([...this.#nodes].map((node) => node.pid)),
          (node) => this.#adopt(node, 'reused'),
          options.created,
        )
      : [];
    const launches = await Promise.allSettled(
      Array.from({ length: count - nodes.length }, () =>
        launchNode(this.#setup, options, (node, outputFile) => {
          this.#outputFiles.set(node, outputFile);
          this.#adopt(node, 'launched');
        }),
      ),
    );
    for (const launch of launches) if (launch.status === 'fulfilled') nodes.push(launch.value);
    const failure = launches.find((launch) => launch.status === 'rejected');
    if (failure) {
      // All or nothing: the caller asked for `count` nodes and gets an error, not a partial set
      // it might forget to shut down.
      await this.shutdown(nodes, { reuse: this.reuse });
      throw (failure as PromiseRejectedResult).reason;
    }
    return nodes;
  }

  async shutdown(nodes: readonly NodeContext[] = this.nodes, options: ReleaseOptions = {}): Promise<void> {
    const reuse = options.reuse ?? this.reuse;
    await Promise.all(nodes.map((node) => this.#shutdownOne(node, reuse)));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.shutdown();
  }

  #adopt(node: NodeContext, how: 'launched' | 'reused'): void {
    this.#nodes.add(node);
    void node.whenClosed.then(() => {
      // A captured node's output outlives it until it is shut down: whoever reads it comes later.
      if (node.state === 'failed' && !this.#setup.options.captureOutput) void this.#forget(node);
    });
    this.emit('node', node, how);
  }

  /**
   * Drops a node that is gone, with its files: the output file, and the socket of a process that
   * died without removing it (killed, or ended by `process.exit` from inside a job).
   */
  async #forget(node: NodeContext): Promise<void> {
    this.#nodes.delete(node);
    const outputFile = this.#outputFiles.get(node);
    this.#outputFiles.delete(node);
    const nodeProcess = node.process;
    if (!nodeProcess || nodeProcess.isAlive()) return;
    await Promise.all([
      outputFile && unlink(outputFile).catch(() => {}),
      nodeProcess.pid > 0 && this.#setup.transport.removeStale(nodeName(nodeProcess.pid)),
    ]);
  }

  async #shutdownOne(node: NodeContext, reuse: boolean): Promise<void> {
    const { clock } = this.#setup;
    const timeouts = this.#setup.options.shutdown ?? {};
    const closing = node.close({ reuse, drainTimeoutMs: timeouts.drainTimeoutMs ?? 100 });
    const nodeProcess = node.process;
    if (reuse || !nodeProcess) {
      await closing;
      if (!nodeProcess || node.state === 'closed') {
        this.#nodes.delete(node);
        this.#outputFiles.delete(node);
        return;
      }
    }
    // The exit clock runs alongside the orderly close: a node that ignores the exit packet (hung,
    // stopped) would otherwise also cost the link's close timeout before the wait even began.
    this.emit('exit', node, { step: 'waiting' });
    const exited = await waitForExit(clock, nodeProcess, timeouts.exitTimeoutMs ?? 30_000, {
      ...timeouts,
      paused: (ms) => this.emit('exit', node, { step: 'paused', ms }),
    });
    if (exited) this.emit('exit', node, { step: 'exited' });
    else {
      nodeProcess.killTree();
      this.emit('exit', node, { step: 'killed' });
      const killed = await waitForExit(clock, nodeProcess, timeouts.killTimeoutMs ?? 5_000);
      this.emit('exit', node, { step: killed ? 'gone' : 'stuck' });
      this.emit('warning', {
        nodeId: node.id,
        pid: nodeProcess.pid,
        message: `node ${node.id} (pid ${nodeProcess.pid}) did not exit within ${timeouts.exitTimeoutMs ?? 30_000} ms of the exit packet; its process tree was killed${killed ? '' : ' but it is still there'}`,
      });
    }
    try {
      await closing;
    } finally {
      // Whatever the close said, the process is gone (or given up on): drop it and its files.
      await this.#forget(node);
    }
  }
}
