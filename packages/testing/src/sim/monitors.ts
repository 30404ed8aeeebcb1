import { isDeepStrictEqual } from 'node:util';
import {
  type JobDispatcher,
  LeaseLostError,
  type MemoryJobServer,
  type Runtime,
  type ScheduledRequest,
} from '@troupe/core';
import type { WirePacket } from './network.js';
import type { Monitor, Simulation } from './simulation.js';

const body = (packet: WirePacket) => (packet.body ?? {}) as Record<string, unknown>;

/**
 * Nothing is written after the exit packet: once a host has written `NodeBuildComplete` without
 * reuse on a link, that direction of the link carries nothing more.
 */
export function nothingAfterExitPacket(): Monitor {
  const exited = new Set<string>();
  return {
    name: 'nothing after the exit packet',
    onPacket(packet, phase, sim) {
      if (phase !== 'written') return;
      const direction = `${packet.connection} ${packet.from}`;
      if (exited.has(direction)) {
        sim.violate(this.name, `${packet.name} was written to ${packet.to} after the exit packet`);
        return;
      }
      if (packet.name === 'NodeBuildComplete' && body(packet).prepareForReuse === false)
        exited.add(direction);
    },
  };
}

/** Each connection's view of its node, made on first use: the request active there and those staged behind it. */
function nodeViews() {
  const nodes = new Map<string, { active: string | undefined; staged: string[] }>();
  return {
    on(connection: string) {
      let node = nodes.get(connection);
      if (!node) {
        node = { active: undefined, staged: [] };
        nodes.set(connection, node);
      }
      return node;
    },
    forget(connection: string) {
      nodes.delete(connection);
    },
  };
}

/**
 * A node runs at most one active request, as its host sees it: a request is active from the host
 * writing BuildRequest (to an idle node), BuildUnblocked or ReacquireGranted, until the host reads
 * its BuildResult, BuildBlocked or Yield. A Cancel ends nothing by itself: a running task runs on
 * until it notices, and a staged one may already have started; the node answers for either. A BuildRequest written to a busy
 * node is staged there and becomes active when the active one leaves. The host must never give a
 * node a continuation (BuildUnblocked, ReacquireGranted) while a request is active or staged
 * there: the node would start the staged one at the same moment (MSBuild #13531).
 */
export function oneActiveRequestPerNode(): Monitor {
  const { on, forget } = nodeViews();
  const leave = (connection: string, id: string) => {
    const node = on(connection);
    if (node.active === id) node.active = node.staged.shift();
    else {
      const index = node.staged.indexOf(id);
      if (index >= 0) node.staged.splice(index, 1);
    }
  };
  return {
    name: 'one active request per node',
    onPacket(packet, phase, sim) {
      const b = body(packet);
      if (phase === 'written') {
        if (packet.name === 'BuildRequest' && typeof b.id === 'string') {
          const node = on(packet.connection);
          if (node.active === undefined && node.staged.length === 0) node.active = b.id;
          else node.staged.push(b.id);
        } else if (
          (packet.name === 'BuildUnblocked' || packet.name === 'ReacquireGranted') &&
          typeof b.requestId === 'string'
        ) {
          const node = on(packet.connection);
          const busy = [
            ...(node.active === undefined ? [] : [`${node.active} (active)`]),
            ...node.staged.map((id) => `${id} (staged)`),
          ];
          if (busy.length > 0) {
            sim.violate(
              this.name,
              `${packet.to} was given ${b.requestId} (${packet.name}) while ${busy.join(', ')} was there`,
            );
          }
          node.active = b.requestId;
        }
      } else {
        const id =
          packet.name === 'BuildResult'
            ? b.id
            : packet.name === 'BuildBlocked' || packet.name === 'Yield'
              ? b.requestId
              : undefined;
        if (typeof id === 'string') leave(packet.connection, id);
      }
    },
    onClose: forget,
  };
}

/**
 * A node runs at most one active request, as the node itself lives it: requests reach it in
 * order, one runs, the staged ones wait. A continuation (BuildUnblocked, ReacquireGranted) that
 * reaches a node while another request is active or staged there would run beside it. Only the
 * active request blocks or yields there; it ends (BuildResult) while active, or while parked
 * (blocked or yielded: a Cancel wakes its task to end), and a staged one ends only by the node's
 * answer to its Cancel. A request the node answers for that was none of these (answered already,
 * or never given) ran unseen, beside whatever the node was running.
 */
export function oneActiveRequestOnNode(): Monitor {
  const { on, forget } = nodeViews();
  /** Per connection: the requests that blocked or yielded there and have not continued or ended. */
  const parked = new Map<string, Set<string>>();
  const parkedOn = (connection: string) => {
    let set = parked.get(connection);
    if (!set) {
      set = new Set();
      parked.set(connection, set);
    }
    return set;
  };
  return {
    name: 'one active request on each node',
    onPacket(packet, phase, sim) {
      const b = body(packet);
      const node = on(packet.connection);
      if (phase === 'delivered' && packet.name === 'BuildRequest' && typeof b.id === 'string') {
        if (node.active === undefined) node.active = b.id;
        else node.staged.push(b.id);
      } else if (
        phase === 'delivered' &&
        (packet.name === 'BuildUnblocked' || packet.name === 'ReacquireGranted') &&
        typeof b.requestId === 'string'
      ) {
        if (node.active !== undefined || node.staged.length > 0) {
          sim.violate(
            this.name,
            `${packet.to} resumed ${b.requestId} (${packet.name}) while ${node.active ?? node.staged[0]} was still ${node.active ? 'running' : 'staged'} there`,
          );
        }
        parkedOn(packet.connection).delete(b.requestId);
        node.active = b.requestId;
      } else if (phase === 'written') {
        const id =
          packet.name === 'BuildResult'
            ? b.id
            : packet.name === 'BuildBlocked' || packet.name === 'Yield'
              ? b.requestId
              : undefined;
        if (typeof id !== 'string') return;
        const staged = node.staged.indexOf(id);
        const waiting = parkedOn(packet.connection);
        if (node.active === id) {
          node.active = node.staged.shift();
          if (packet.name !== 'BuildResult') waiting.add(id);
        } else if (packet.name === 'BuildResult' && (staged >= 0 || waiting.has(id))) {
          if (staged >= 0) node.staged.splice(staged, 1);
          waiting.delete(id);
        } else
          sim.violate(
            this.name,
            `${packet.from} sent ${packet.name} for ${id}, which was ${staged >= 0 ? 'staged, not started' : waiting.has(id) ? 'blocked or yielded' : 'neither active, staged nor waiting'} there: the node ran a request it had not been given to run (active there: ${node.active ?? 'none'})`,
          );
      }
    },
    onClose(connection) {
      forget(connection);
      parked.delete(connection);
    },
  };
}

/**
 * A node serves one host at a time: it answers NodeReady on a second link only after the first
 * host let it go (NodeBuildComplete reached it, or that link ended).
 */
export function oneHostPerNode(): Monitor {
  const hostOf = new Map<string, string>();
  return {
    name: 'one host per node',
    onPacket(packet, phase, sim) {
      if (phase === 'written' && packet.name === 'NodeReady') {
        const current = hostOf.get(packet.from);
        if (current !== undefined && current !== packet.connection) {
          sim.violate(
            this.name,
            `${packet.from} accepted a host on ${packet.connection} while serving the host on ${current}`,
          );
        }
        hostOf.set(packet.from, packet.connection);
      }
      if (phase === 'delivered' && packet.name === 'NodeBuildComplete') {
        if (hostOf.get(packet.to) === packet.connection) hostOf.delete(packet.to);
      }
    },
    onClose(connection) {
      for (const [node, host] of hostOf) if (host === connection) hostOf.delete(node);
    },
  };
}

const TERMINAL = new Set(['completed', 'failed', 'cancelled']);

/**
 * Every request a runtime took ends exactly once, and none is left unended when the run ends.
 * A request the runtime still counts as running (staged, blocked, yielded...) on a node whose
 * connection failed can never end: the runtime must fail it or run it again as it hears of the
 * failure (it then drops the node from its pool, in the same call). One found on a failed node
 * still in the pool is reported at once, after the step, rather than when the run ends: a world
 * whose other nodes stay busy (pinged, say) would otherwise run into the step bound first.
 */
export function requestsEndOnce(sim: Simulation, runtime: Runtime): Monitor {
  const states = new Map<string, string>();
  /** The requests not yet ended, as the runtime holds them. */
  const open = new Map<string, ScheduledRequest>();
  runtime.on('request', (request, from, to) => {
    sim.note(`  ${request.id}: ${from} → ${to}`);
    if (TERMINAL.has(from)) sim.violate('requests end once', `${request.id} left ${from} for ${to}`);
    states.set(request.id, to);
    if (TERMINAL.has(to)) open.delete(request.id);
    else open.set(request.id, request);
  });
  return {
    name: 'requests end once',
    afterStep(current) {
      for (const node of runtime.nodes) {
        if (node.failure === undefined) continue;
        const stranded = [...open.values()].filter((request) => request.node === node.id);
        if (stranded.length === 0) continue;
        current.violate(
          this.name,
          `${stranded.map((r) => `${r.id} (${r.state})`).join(', ')} can never end: ${node.id}'s connection failed (${node.failure.message}), yet ${node.id} is still in the runtime's pool, holding ${stranded.length === 1 ? 'it' : 'them'}`,
        );
        return;
      }
    },
    atEnd(current) {
      const unended = [...states].filter(([, state]) => !TERMINAL.has(state));
      if (unended.length > 0) {
        current.violate(
          this.name,
          `request(s) never ended: ${unended.map(([id, state]) => `${id} (${state})`).join(', ')}`,
        );
      }
    },
  };
}

/**
 * The result oracle: every request that completes has the value a sequential reference evaluation
 * gives its task and input (`reference` answers undefined for a task whose value it cannot know,
 * e.g. one that depends on the schedule). Checked when the host records it, so a wrong value
 * handed on to a waiting request is caught at its source.
 */
export function resultsMatchReference(
  sim: Simulation,
  runtime: Runtime,
  reference: (spec: { task: string; input: unknown }) => unknown,
): Monitor {
  const name = 'results match the reference';
  runtime.on('request', (request, _from, to) => {
    if (to !== 'completed') return;
    const expected = reference(request.spec);
    if (expected !== undefined && !isDeepStrictEqual(request.value, expected)) {
      sim.violate(
        name,
        `${request.id} (${request.spec.task.slice(request.spec.task.lastIndexOf('#') + 1)} ${JSON.stringify(request.spec.input)}) completed with ${JSON.stringify(request.value)}, the reference is ${JSON.stringify(expected)}`,
      );
    }
  });
  return { name };
}

/** A violation of `monitor` for every job the server recorded more than one completion for. */
function violateExtraCompletions(sim: Simulation, monitor: string, server: MemoryJobServer): void {
  for (const job of server.list()) {
    if (job.extraCompletions.length === 0) continue;
    const results = [job.completion, ...job.extraCompletions].map((c) => c?.result).join(', ');
    sim.violate(monitor, `job ${job.id} was completed ${job.extraCompletions.length + 1} times: ${results}`);
  }
}

/** Every job ends with at most one reported result, and every job taken ends. */
export function jobsEndOnce(server: MemoryJobServer, ended: () => ReadonlySet<string>): Monitor {
  return {
    name: 'jobs end once',
    afterStep(sim) {
      violateExtraCompletions(sim, this.name, server);
    },
    atEnd(sim) {
      this.afterStep?.(sim);
      const done = ended();
      const open = server.list().filter((job) => job.status === 'leased' && !done.has(job.id));
      if (open.length > 0) sim.violate(this.name, `job(s) never ended: ${open.map((j) => j.id).join(', ')}`);
    },
  };
}

/**
 * Every job ends with exactly one result recorded by the server: never a second one, and none
 * left without a result (queued, leased, or dead) once the scenario's script has finished.
 */
export function jobsHaveOneResult(server: MemoryJobServer): Monitor {
  return {
    name: 'every job one result',
    afterStep(sim) {
      violateExtraCompletions(sim, this.name, server);
    },
    atEnd(sim, finished) {
      this.afterStep?.(sim);
      if (!finished) return;
      const open = server.list().filter((job) => job.status !== 'completed');
      if (open.length > 0)
        sim.violate(
          this.name,
          `job(s) without a result: ${open.map((j) => `${j.id} (${j.status})`).join(', ')}`,
        );
    },
  };
}

/**
 * A job's result is its current lease holder's: the server records a completion only under the
 * job's newest fencing token, never one an agent presents after another take superseded it.
 */
export function resultsFromTheHolder(sim: Simulation, server: MemoryJobServer): Monitor {
  const name = 'the result is the holder’s';
  server.on('completed', (job) => {
    if (job.completedUnder !== String(job.fence)) {
      sim.violate(
        name,
        `job ${job.id}'s result (${job.completion?.result}${job.completion?.reason ? `: ${job.completion.reason}` : ''}) was recorded under token ${job.completedUnder}, but token ${job.fence} holds it`,
      );
    }
  });
  return { name };
}

/**
 * No two live workers for one job past the fence. A worker is live from its job message (the
 * dispatcher's `started`) until its dispatcher ends the job (`completed`, which comes only after
 * the worker exited or was killed). An agent that stalled past its lease cannot know it was
 * superseded until it next reaches the server; from then on its worker must go: the server
 * accepts no renewal under a superseded token (that would keep the old worker running beside the
 * holder's), and an agent refused by the fence ends its job within `stopWithinMs` (its channel,
 * cancel and kill timeouts).
 */
export function oneWorkerPerJobPastTheFence(
  sim: Simulation,
  server: MemoryJobServer,
  agents: ReadonlyArray<{ name: string; dispatcher: JobDispatcher }>,
  stopWithinMs: number,
): Monitor {
  const name = 'one worker per job past the fence';
  /** Per job: the live workers, as "agent (token n)". */
  const live = new Map<string, Set<string>>();
  /** "agent job" -> when the fence refused that agent. */
  const refused = new Map<string, { agent: string; job: string; at: number }>();
  const workers = (job: string) => [...(live.get(job) ?? [])].join(', ') || 'none';
  server.on('renewed', (job, lease) => {
    if (lease !== String(job.fence)) {
      sim.violate(
        name,
        `job ${job.id}'s lease was renewed under token ${lease} after token ${job.fence} took it (live workers: ${workers(job.id)})`,
      );
    }
  });
  for (const { name: agent, dispatcher } of agents) {
    dispatcher.on('started', ({ job }) => {
      const set = live.get(job.id) ?? new Set<string>();
      live.set(job.id, set);
      set.add(`${agent} (token ${job.lease})`);
    });
    dispatcher.on('lease', ({ job, outcome, error }) => {
      if (outcome === 'lost' && error instanceof LeaseLostError)
        refused.set(`${agent} ${job.id}`, { agent, job: job.id, at: sim.clock.now() });
    });
    dispatcher.on('completed', ({ job }) => {
      live.get(job.id)?.delete(`${agent} (token ${job.lease})`);
      refused.delete(`${agent} ${job.id}`);
    });
  }
  return {
    name,
    afterStep(current) {
      const now = current.clock.now();
      for (const { agent, job, at } of refused.values()) {
        if (now - at > stopWithinMs) {
          current.violate(
            name,
            `${agent} was refused by the fence on job ${job} at ${at} ms and has not ended it at ${now} ms (live workers: ${workers(job)})`,
          );
        }
      }
    },
  };
}
