// The ssh launcher against a real OpenSSH server in another namespace: `troupe node` starts
// through `ssh -i KEY -p PORT root@198.18.x.y --`, takes its secret on stdin (never argv), serves
// the host over the namespace link, and goes away when the ssh session ends.
import { type ChildProcess, spawn } from 'node:child_process';
import { createRuntime } from '@troupe/core';
import {
  createNamespace,
  type NetworkNamespace,
  removeNamespaces,
  type SshServer,
  sshdUnavailable,
  startSshd,
} from '@troupe/testing/internal';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { digest, project, whereAmI } from './fixtures/tasks.mjs';
import { Cleanups, connectHost, nodeHasOption, noNetns, troupeBin, until } from './support/lab.js';

const cleanups = new Cleanups();
afterEach(() => cleanups.run());

const skip =
  noNetns ??
  sshdUnavailable() ??
  (nodeHasOption('--secret-stdin') ? undefined : 'no troupe node --secret-stdin yet');

describe.skipIf(skip)(`troupe node through ssh${skip ? ` (skipped: ${skip})` : ''}`, () => {
  let namespace: NetworkNamespace;
  let sshd: SshServer;
  beforeAll(async () => {
    namespace = await createNamespace();
    sshd = await startSshd(namespace);
  });
  afterAll(async () => {
    await sshd?.stop();
    await removeNamespaces();
  });

  /** The node processes inside the namespace: everything but the sshd listener. */
  const nodesInside = async () => (await namespace.pids()).filter((pid) => pid !== sshd.pid);

  /** `ssh ... -- node troupe.js node --listen tcp://0.0.0.0:0 --secret-stdin`, secret written; its listening line. */
  async function launch(secret: string): Promise<{ ssh: ChildProcess; address: string; pid: number }> {
    const argv = [
      ...sshd.prefix,
      process.execPath,
      troupeBin,
      'node',
      '--listen',
      'tcp://0.0.0.0:0',
      '--secret-stdin',
    ];
    const ssh = spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
    const exited = new Promise((resolve) => ssh.once('exit', resolve));
    cleanups.add(async () => {
      if (ssh.exitCode === null && ssh.signalCode === null) ssh.kill('SIGKILL');
      await exited;
    });
    ssh.stdin!.write(`${secret}\n`);
    let stdout = '';
    let stderr = '';
    ssh.stderr!.on('data', (chunk: Buffer) => {
      stderr += chunk.toString();
    });
    const line = await new Promise<string>((resolve, reject) => {
      ssh.stdout!.on('data', (chunk: Buffer) => {
        stdout += chunk.toString();
        if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!);
      });
      ssh.once('exit', (code) =>
        reject(new Error(`ssh ended (${code}) before the node listened:\n${stderr}`)),
      );
    });
    const listening = JSON.parse(line) as { address: string; pid: number; addresses?: string[] };
    expect(listening.address).toMatch(/^tcp:\/\/0\.0\.0\.0:\d+$/);
    // Bound to every interface, it names each one a host may dial: the namespace's link first, then loopback.
    const port = listening.address.split(':').pop();
    expect(listening.addresses).toEqual([`tcp://${namespace.address}:${port}`, `tcp://127.0.0.1:${port}`]);
    return { ssh, address: listening.addresses![0]!, pid: listening.pid };
  }

  it('serves over the link, and ends with its session when ssh closes stdin', async () => {
    const { ssh, address, pid } = await launch('hunter2 but longer');
    expect(await nodesInside()).toContain(pid);
    const host = await connectHost(address, { handshake: {}, secret: 'hunter2 but longer' }, cleanups);
    // It runs in the namespace: the link's address is its own, and its pid is the one it printed.
    expect(await host.request(whereAmI.id, null)).toEqual({ pid, addresses: [namespace.address] });
    expect(await host.request(project.id, { id: 'p1' }, {})).toBe(digest('p1', []));
    await host.close({ reuse: false });
    const code = new Promise((resolve) => ssh.once('exit', (c) => resolve(c)));
    ssh.stdin!.end();
    expect(await code).toBe(0);
    await until(async () => (await nodesInside()).length === 0, 'the node and its session to be gone');
  });

  it('goes away when the ssh client is killed while a host holds it', async () => {
    const { ssh, address, pid } = await launch('correct horse battery');
    const host = await connectHost(address, { handshake: {}, secret: 'correct horse battery' }, cleanups);
    expect(await host.request(whereAmI.id, null)).toEqual({ pid, addresses: [namespace.address] });
    ssh.kill('SIGKILL');
    await until(async () => (await nodesInside()).length === 0, 'the node to end with its session');
    await host.whenClosed;
    expect(host.failure?.message).toMatch(/connection|closed|lost/i);
  });

  it('a runtime launches its remote node through the ssh prefix: it serves, and goes when the runtime shuts down', async () => {
    const runtime = createRuntime({ nodes: { kind: 'remote', launch: [{ prefix: [...sshd.prefix] }] } });
    const locations: string[] = [];
    runtime.on('node', (node) => locations.push(node.location));
    try {
      const [where, built] = await runtime.build<unknown>([
        { task: whereAmI, input: null },
        { task: project, input: { id: 'p2' } },
      ]);
      expect(where).toEqual({ pid: expect.any(Number), addresses: [namespace.address] });
      expect(await nodesInside()).toContain((where as { pid: number }).pid);
      expect(built).toBe(digest('p2', []));
      expect(locations).toEqual([sshd.prefix.join(' ')]);
    } finally {
      await runtime.shutdown();
    }
    await until(async () => (await nodesInside()).length === 0, 'the node and its ssh session to be gone');
  });
});
