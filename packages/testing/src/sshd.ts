// A real OpenSSH server inside a test namespace, for the ssh launcher's tests: the real
// implementation, running Debian's /usr/sbin/sshd and ssh-keygen. Everything it trusts is made
// for the one server and thrown away with it: a host key (the client checks it through a
// known_hosts file written here, StrictHostKeyChecking on), a client key (the only key its
// authorized_keys holds), and a config that takes keys and nothing else.
import { type ChildProcess, execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import type { NetworkNamespace } from './netns.js';

const run = promisify(execFile);
const SSHD = '/usr/sbin/sshd';

export interface SshServer {
  /** The namespace's address, where it listens. */
  readonly host: string;
  readonly port: number;
  readonly user: string;
  /** sshd's own pid (the listener; each session is a process of its own). */
  readonly pid: number;
  /**
   * The launcher prefix: `ssh -i KEY -p PORT -o ... user@host --`, with the client key, the
   * generated known_hosts and batch mode (never a prompt), and no user or system ssh config.
   */
  readonly prefix: readonly string[];
  /** What sshd logged so far (-e: to stderr). */
  log(): string;
  /** Stops the server (SIGTERM, then SIGKILL) and removes its keys and config. Idempotent. */
  stop(): Promise<void>;
}

/** Why sshd cannot run here, or undefined when it can. */
export function sshdUnavailable(): string | undefined {
  if (!existsSync(SSHD)) return `no ${SSHD}: install Debian's openssh-server (.ci/run does)`;
  return undefined;
}

/** Starts sshd inside `namespace` and resolves once it listens. */
export async function startSshd(
  namespace: NetworkNamespace,
  options: { port?: number } = {},
): Promise<SshServer> {
  const reason = sshdUnavailable();
  if (reason) throw new Error(reason);
  const port = options.port ?? 22;
  const user = 'root';
  const directory = await mkdtemp(join(tmpdir(), 'troupe-sshd-'));
  let child: ChildProcess | undefined;
  let stderr = '';
  const stop = async () => {
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((resolve) => child!.once('exit', resolve));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child!.kill('SIGKILL'), 2_000);
      await exited;
      clearTimeout(timer);
    }
    await rm(directory, { recursive: true, force: true });
  };
  try {
    const hostKey = join(directory, 'host_ed25519');
    const clientKey = join(directory, 'client_ed25519');
    await keygen(hostKey);
    await keygen(clientKey);
    const authorizedKeys = join(directory, 'authorized_keys');
    await writeFile(authorizedKeys, await readFile(`${clientKey}.pub`), { mode: 0o600 });
    const knownHosts = join(directory, 'known_hosts');
    const hostPublic = (await readFile(`${hostKey}.pub`, 'utf8')).trim().split(' ').slice(0, 2).join(' ');
    const hostName = port === 22 ? namespace.address : `[${namespace.address}]:${port}`;
    await writeFile(knownHosts, `${hostName} ${hostPublic}\n`, { mode: 0o600 });
    const config = join(directory, 'sshd_config');
    await writeFile(
      config,
      [
        `ListenAddress ${namespace.address}`,
        `Port ${port}`,
        `HostKey ${hostKey}`,
        `AuthorizedKeysFile ${authorizedKeys}`,
        `PidFile ${join(directory, 'sshd.pid')}`,
        'PermitRootLogin prohibit-password',
        'PubkeyAuthentication yes',
        'PasswordAuthentication no',
        'KbdInteractiveAuthentication no',
        'UsePAM no',
        // The keys live in a private folder under the temp dir, whose world-writable parent
        // StrictModes would object to.
        'StrictModes no',
        'X11Forwarding no',
        'AllowTcpForwarding no',
        'PrintMotd no',
        'LogLevel VERBOSE',
        '',
      ].join('\n'),
      { mode: 0o600 },
    );
    // Privilege separation's empty chroot; Debian's service makes it at boot, tests cannot count on that.
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
    const started = namespace.exec([SSHD, '-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    child = started;
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`sshd did not listen within 10 s:\n${stderr}`)),
        10_000,
      );
      started.stderr!.on('data', (chunk: Buffer) => {
        stderr += chunk.toString();
        if (/Server listening on/.test(stderr)) {
          clearTimeout(timer);
          resolve();
        }
      });
      started.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`sshd ended (${signal ?? code}) before it listened:\n${stderr}`));
      });
    });
    return {
      host: namespace.address,
      port,
      user,
      pid: started.pid!,
      prefix: [
        'ssh',
        ...['-F', '/dev/null', '-i', clientKey, '-p', String(port)],
        ...['-o', `UserKnownHostsFile=${knownHosts}`, '-o', 'StrictHostKeyChecking=yes'],
        ...['-o', 'BatchMode=yes', '-o', 'IdentitiesOnly=yes', '-o', 'ConnectTimeout=10'],
        `${user}@${namespace.address}`,
        '--',
      ],
      log: () => stderr,
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}

async function keygen(file: string): Promise<void> {
  await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'troupe-test', '-f', file]);
}
