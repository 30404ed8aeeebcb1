import { type ChildProcess, fork } from 'node:child_process';
import { Worker } from 'node:worker_threads';
import { analyse, generateGraph } from '@troupe/example-build-graph/graph';

/**
 * The floor under the "800 dependent projects × 1 ms on 2 nodes, node start included" rows: the
 * same generated graph on two bare nodes (worker_threads, or child processes over Node's IPC
 * channel) that only spin, fed by a host that does nothing but list scheduling (longest remaining
 * path first) with one request staged behind each running one. No troupe at all: what the machine
 * itself costs to start two nodes and keep them fed while they hold both cores. troupe's makespan
 * over this floor says how much of the gap to max(critical path, work ÷ nodes) is troupe's.
 */

type Kind = 'thread' | 'process';

interface BareNode {
  send(message: { id: string; ms: number }): void;
  onAnswer(listener: (id: string) => void): void;
  end(): Promise<void>;
}

const script = new URL('../workers/floor-node.mjs', import.meta.url);

async function startThread(): Promise<BareNode> {
  const worker = new Worker(script);
  await new Promise<void>((resolve, reject) => {
    worker.once('online', () => resolve());
    worker.once('error', reject);
  });
  return {
    send: (message) => worker.postMessage(message),
    onAnswer: (listener) => worker.on('message', listener),
    end: async () => {
      await worker.terminate();
    },
  };
}

async function startProcess(): Promise<BareNode> {
  const child: ChildProcess = fork(script, { serialization: 'advanced', stdio: 'ignore' });
  await new Promise<void>((resolve, reject) => {
    child.once('message', () => resolve());
    child.once('error', reject);
    child.once('exit', (code) =>
      reject(new Error(`the floor's child process exited (${code}) before it was ready`)),
    );
  });
  return {
    send: (message) => child.send(message),
    onAnswer: (listener) => child.on('message', (id) => listener(String(id))),
    end: () =>
      new Promise<void>((resolve) => {
        child.once('exit', () => resolve());
        child.disconnect();
      }),
  };
}

/** Milliseconds from starting two bare nodes to the last of `projects` results. */
export async function floorMakespan(kind: Kind, projects: number, workMs: number): Promise<number> {
  const graph = analyse(generateGraph(projects, workMs, 1));
  const start = performance.now();
  const nodes = await Promise.all([0, 1].map(() => (kind === 'thread' ? startThread() : startProcess())));
  const waitingOn = new Map(graph.projects.map((p) => [p.id, p.deps.length]));
  const dependents = new Map<string, string[]>(graph.projects.map((p) => [p.id, []]));
  for (const project of graph.projects) for (const dep of project.deps) dependents.get(dep)?.push(project.id);
  const ready = graph.projects.filter((p) => p.deps.length === 0).map((p) => p.id);
  const priority = (id: string) => graph.remaining.get(id) ?? 0;
  const inFlight = nodes.map(() => 0);
  let done = 0;
  try {
    await new Promise<void>((resolve) => {
      const feed = () => {
        ready.sort((a, b) => priority(b) - priority(a));
        nodes.forEach((node, i) => {
          while ((inFlight[i] ?? 0) < 2 && ready.length > 0) {
            const id = ready.shift() as string;
            inFlight[i] = (inFlight[i] ?? 0) + 1;
            node.send({ id, ms: graph.byId.get(id)?.cost ?? 0 });
          }
        });
      };
      nodes.forEach((node, i) => {
        node.onAnswer((id) => {
          inFlight[i] = (inFlight[i] ?? 0) - 1;
          done++;
          for (const dependent of dependents.get(id) ?? []) {
            const left = (waitingOn.get(dependent) ?? 0) - 1;
            waitingOn.set(dependent, left);
            if (left === 0) ready.push(dependent);
          }
          if (done === graph.projects.length) resolve();
          else feed();
        });
      });
      feed();
    });
    return performance.now() - start;
  } finally {
    await Promise.all(nodes.map((node) => node.end()));
  }
}
