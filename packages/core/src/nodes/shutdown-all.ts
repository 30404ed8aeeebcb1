import { type Clock, type HandshakeOptions, PipeTransport, systemClock } from '@troupe/transport';
import { decodeHandshake } from '@troupe/transport/internal';
import { createIdSource } from '../ids.js';
import { isPidAlive, systemIdentity } from '../system/launcher.js';
import { type ListedNode, NodeRegistry } from '../system/registry.js';
import { NodeContext } from './context.js';
import { waitForExit } from './process-wait.js';

export interface ShutdownAllOptions {
  transport?: PipeTransport;
  clock?: Clock;
  /** How long each node may take to exit once asked. Default 5 s. */
  exitTimeoutMs?: number;
}

export interface ShutdownAllResult {
  pid: number;
  outcome: 'exited' | 'busy' | 'unreachable' | 'still-running';
  detail?: string;
}

/** Every idle reusable node of this user, as the registry records them. */
export async function listNodes(options: { transport?: PipeTransport; now: number }): Promise<ListedNode[]> {
  const transport = options.transport ?? new PipeTransport();
  return new NodeRegistry(transport.directory).list(options.now);
}

/**
 * Asks every idle reusable node of this user to exit, whatever runtime version or flags it was
 * started with: each is spoken to with exactly the handshake its record gives. Busy nodes (serving
 * another host) are left alone and reported.
 */
export async function shutdownAll(options: ShutdownAllOptions = {}): Promise<ShutdownAllResult[]> {
  const transport = options.transport ?? new PipeTransport();
  const clock = options.clock ?? systemClock;
  const ids = createIdSource();
  const records = await new NodeRegistry(transport.directory).list(0);
  return Promise.all(
    records.map(async (record): Promise<ShutdownAllResult> => {
      let handshake: HandshakeOptions;
      try {
        const decoded = decodeHandshake(Buffer.from(record.handshake, 'hex'));
        if (decoded.flags.authenticated)
          return { pid: record.pid, outcome: 'unreachable', detail: 'needs a secret' };
        handshake = {
          protocolVersion: decoded.protocolVersion,
          runtimeVersion: decoded.runtimeVersion,
          nodeReuse: decoded.flags.nodeReuse,
          lowPriority: decoded.flags.lowPriority,
          taskHost: decoded.flags.taskHost,
          salt: decoded.salt,
        };
      } catch (error) {
        return { pid: record.pid, outcome: 'unreachable', detail: (error as Error).message };
      }
      const node = new NodeContext({
        id: ids.next('node'),
        kind: 'process',
        clock,
        ids,
        readyTimeoutMs: 5_000,
        connect: (onLink) =>
          transport.connect(record.address, { handshake, clock, connectTimeoutMs: 2_000, onLink }),
      });
      try {
        await node.start(systemIdentity().pid);
      } catch (error) {
        const message = (error as Error).message;
        return { pid: record.pid, outcome: /Busy/.test(message) ? 'busy' : 'unreachable', detail: message };
      }
      await node.close({ reuse: false });
      const exited = await waitForExit(
        clock,
        { isAlive: () => isPidAlive(record.pid) },
        options.exitTimeoutMs ?? 5_000,
        { exitPollMaxMs: 200 },
      );
      return { pid: record.pid, outcome: exited ? 'exited' : 'still-running' };
    }),
  );
}
