// A build of a few hundred projects on a mixed pool: 2 process nodes on this machine and 2
// remote nodes, each in a network namespace of its own, launched through `ip netns exec` and
// reached over their veth links. Its results equal an all-local build's and a sequential
// evaluation's; every node did some of it; nothing is left running in either namespace.
import { createRuntime, type RequestLike } from '@troupe/core';
import { generateGraph } from '@troupe/example-build-graph/graph';
import { createNamespace, type NetworkNamespace, removeNamespaces } from '@troupe/testing/internal';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { digest, type ProjectInput, project } from './fixtures/tasks.mjs';
import { warm } from './support/faults.js';
import { noNetns, until } from './support/lab.js';
import { record } from './support/runs.js';

const projects = generateGraph(300, 3, 14);

/** The whole graph as declared requests: each project waits for its dependencies' outputs. */
function requests(): RequestLike<ProjectInput>[] {
  const byId = new Map<string, RequestLike<ProjectInput> & { deps: RequestLike[] }>();
  for (const p of projects) byId.set(p.id, { task: project, input: { id: p.id, workMs: p.cost }, deps: [] });
  for (const p of projects) byId.get(p.id)!.deps.push(...p.deps.map((dep) => byId.get(dep)!));
  return [...byId.values()];
}

/** Every project's output, evaluated one after the other (the graph lists dependencies first). */
function reference(): string[] {
  const outputs = new Map<string, string>();
  for (const p of projects)
    outputs.set(
      p.id,
      digest(
        p.id,
        p.deps.map((dep) => outputs.get(dep)!),
      ),
    );
  return projects.map((p) => outputs.get(p.id)!);
}

describe.skipIf(noNetns)(`a build across namespaces${noNetns ? ` (skipped: ${noNetns})` : ''}`, () => {
  let a: NetworkNamespace;
  let b: NetworkNamespace;
  beforeAll(async () => {
    [a, b] = [await createNamespace(), await createNamespace()];
  });
  afterAll(() => removeNamespaces());

  it('300 projects on 2 local + 2 remote nodes: the same outputs as all-local, every node used, none left', async () => {
    const expected = reference();
    const local = createRuntime({ nodes: { kind: 'inproc', max: 2 } });
    let allLocal: string[];
    try {
      allLocal = await local.build<string>(requests());
    } finally {
      await local.shutdown();
    }
    expect(allLocal).toEqual(expected);

    const runtime = createRuntime({
      nodes: { kind: 'remote', local: 2, launch: [{ prefix: [...a.prefix] }, { prefix: [...b.prefix] }] },
    });
    const run = record(runtime);
    let mixed: string[];
    try {
      // Every node up before the build, so that a remote node slower to start than the local ones
      // (on a loaded machine) still gets its share.
      await warm(runtime, run, [a.prefix.join(' '), b.prefix.join(' ')], 4);
      mixed = await runtime.build<string>(requests());
    } finally {
      await runtime.shutdown();
    }
    expect(mixed).toEqual(expected);
    expect([...run.completions.values()].every((count) => count === 1)).toBe(true);
    const projectsCompleted = [...run.ended.values()].filter(
      (request) => request.spec.task === project.id && request.state === 'completed',
    );
    expect(projectsCompleted.length).toBe(projects.length);
    expect(run.lost).toEqual([]);
    // Both namespaces did part of the build, and so did the local nodes.
    const where = [...new Set(run.locations.values())].sort();
    expect(where).toEqual(['local', a.prefix.join(' '), b.prefix.join(' ')].sort());
    for (const location of where) expect(run.completedAt(location), location).toBeGreaterThan(0);
    // The launcher's session ended with the runtime, and took its node along.
    await until(
      async () => (await a.pids()).length + (await b.pids()).length === 0,
      'no process left in either namespace',
    );
  });
});
