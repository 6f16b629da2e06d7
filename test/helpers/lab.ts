// Shared integration-test plumbing: temp dirs, network namespaces, daemons we start ourselves, and
// cleanup traps. Every resource registers its own undo; undo runs in reverse order at the end of
// the test file, on SIGINT/SIGTERM, and (synchronously, best effort) at process exit.
// We only ever kill PIDs we spawned, and only talk to addresses inside namespaces we created.
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, openSync, closeSync, existsSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

type Undo = { name: string; sync: () => void };
const undos: Undo[] = [];
let trapsInstalled = false;

function installTraps(): void {
  if (trapsInstalled) return;
  trapsInstalled = true;
  process.on('exit', () => runCleanupSync());
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      runCleanupSync();
      process.exit(130);
    });
  }
}

/** Register an undo step; it runs once, in reverse registration order. */
export function onCleanup(name: string, fn: () => void): void {
  installTraps();
  undos.push({ name, sync: fn });
}

export function runCleanupSync(): void {
  while (undos.length) {
    const u = undos.pop()!;
    try {
      u.sync();
    } catch (e) {
      process.stderr.write(`cleanup ${u.name}: ${(e as Error).message}\n`);
    }
  }
}

/** Use as `after(cleanupAll)` in each integration test file. */
export async function cleanupAll(): Promise<void> {
  runCleanupSync();
}

export function sh(cmd: string, args: string[], opts: { allowFail?: boolean; input?: string } = {}): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', input: opts.input, stdio: ['pipe', 'pipe', 'pipe'] });
  } catch (e) {
    if (opts.allowFail) return '';
    const err = e as { stderr?: string; message: string };
    throw new Error(`${cmd} ${args.join(' ')}: ${err.stderr?.trim() || err.message}`);
  }
}

/** A fresh temp directory, removed at cleanup (after any mounts under it are gone). */
export function tempDir(prefix = 'pxebootd-test-'): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  onCleanup(`rm ${dir}`, () => {
    // never rm through a mount point that is still mounted
    const mounted = readFileSync('/proc/self/mountinfo', 'utf8')
      .split('\n')
      .map((l) => l.split(' ')[4])
      .filter((m): m is string => !!m && (m === dir || m.startsWith(dir + '/')))
      .sort((a, b) => b.length - a.length);
    for (const m of mounted) sh('umount', ['-l', m], { allowFail: true });
    rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Short unique suffix for names that must be unique on the host (netns, bridges, taps). */
export function uniq(): string {
  return `${process.pid.toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`.slice(-6);
}

export interface NetnsPair {
  srv: string;
  cli: string;
  /** bridge in srv, holding srvIp/24 */
  bridge: string;
  srvIp: string;
  /** interface name of the client's end inside cli */
  cliIf: string;
  cliMac: string;
}

/**
 * Two namespaces: `srv` with bridge br0 (srvIp/24) and `cli` joined to it by a veth.
 * `prefix` keeps concurrently running test files apart (e.g. "pxb").
 */
export function makeNetnsPair(prefix: string, opts: { subnet?: string; cliMac?: string } = {}): NetnsPair {
  const id = uniq();
  const srv = `${prefix}-s-${id}`;
  const cli = `${prefix}-c-${id}`;
  const subnet = opts.subnet ?? '10.99.0';
  const srvIp = `${subnet}.1`;
  const cliMac = opts.cliMac ?? '52:54:00:aa:bb:01';
  sh('ip', ['netns', 'add', srv]);
  onCleanup(`netns ${srv}`, () => sh('ip', ['netns', 'del', srv], { allowFail: true }));
  sh('ip', ['netns', 'add', cli]);
  onCleanup(`netns ${cli}`, () => sh('ip', ['netns', 'del', cli], { allowFail: true }));
  sh('ip', ['-n', srv, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', cli, 'link', 'set', 'lo', 'up']);
  sh('ip', ['-n', srv, 'link', 'add', 'br0', 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']);
  sh('ip', ['-n', srv, 'addr', 'add', `${srvIp}/24`, 'dev', 'br0']);
  sh('ip', ['-n', srv, 'link', 'set', 'br0', 'up']);
  sh('ip', ['-n', srv, 'link', 'add', 'vsrv', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', cli]);
  sh('ip', ['-n', srv, 'link', 'set', 'vsrv', 'master', 'br0', 'up']);
  sh('ip', ['-n', cli, 'link', 'set', 'eth0', 'address', cliMac, 'up']);
  return { srv, cli, bridge: 'br0', srvIp, cliIf: 'eth0', cliMac };
}

export interface Daemon {
  pid: number;
  child: ChildProcess;
  logFile: string;
  /** SIGTERM (then SIGKILL after graceMs) to this PID's process group only; resolves when it exited */
  stop(graceMs?: number): Promise<void>;
  exited: Promise<number | null>;
}

/**
 * Start a long-running daemon in its own session (setsid), optionally inside a netns, with stdout
 * and stderr appended to `logFile`. Registered for cleanup by PID.
 */
export function startDaemon(name: string, argv: string[], opts: { netns?: string; logFile: string; env?: NodeJS.ProcessEnv }): Daemon {
  const full = opts.netns ? ['ip', 'netns', 'exec', opts.netns, ...argv] : argv;
  const fd = openSync(opts.logFile, 'a');
  const child = spawn(full[0]!, full.slice(1), { detached: true, stdio: ['ignore', fd, fd], env: opts.env ?? process.env });
  closeSync(fd);
  const pid = child.pid;
  if (pid === undefined) throw new Error(`could not start ${name}`);
  let done = false;
  const exited = new Promise<number | null>((resolve) =>
    child.on('exit', (code) => {
      done = true;
      resolve(code);
    }),
  );
  const killGroup = (sig: NodeJS.Signals) => {
    try {
      process.kill(-pid, sig);
    } catch {
      /* already gone */
    }
  };
  onCleanup(`daemon ${name} pid ${pid}`, () => {
    if (done) return;
    killGroup('SIGTERM');
    const until = Date.now() + 2000;
    while (Date.now() < until && existsSync(`/proc/${pid}`) && !isZombie(pid)) sh('sleep', ['0.05'], { allowFail: true });
    killGroup('SIGKILL');
  });
  return {
    pid,
    child,
    logFile: opts.logFile,
    exited,
    async stop(graceMs = 3000) {
      if (done) return;
      killGroup('SIGTERM');
      const t = setTimeout(() => killGroup('SIGKILL'), graceMs);
      await exited;
      clearTimeout(t);
    },
  };
}

function isZombie(pid: number): boolean {
  try {
    return / Z /.test(readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^\d+ \(.*\) /, ' '));
  } catch {
    return true;
  }
}

/**
 * The shortest a condition is waited for, whatever a test asks: on a loaded CI machine (two cores, a
 * parallel job) a daemon or a DHCP client can take several times its quiet-machine time. A longer
 * deadline costs a passing test nothing; only a failing one fails later.
 */
export const MIN_WAIT_MS = 20_000;

/** Poll `pred` every `intervalMs` until it returns a truthy value or `timeoutMs` (at least MIN_WAIT_MS) passes. */
export async function waitFor<T>(what: string, pred: () => T | Promise<T>, timeoutMs = 10_000, intervalMs = 20): Promise<NonNullable<T>> {
  timeoutMs = Math.max(timeoutMs, MIN_WAIT_MS);
  const until = Date.now() + timeoutMs;
  let last: unknown;
  for (;;) {
    try {
      const v = await pred();
      if (v) return v as NonNullable<T>;
    } catch (e) {
      last = e;
    }
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Fail loudly (never skip) when a tool a test needs is missing: CI installs it. */
export function requireTool(bin: string): string {
  for (const dir of (process.env.PATH ?? '/usr/sbin:/usr/bin:/sbin:/bin').split(':').concat(['/usr/sbin', '/sbin'])) {
    const p = path.join(dir, bin);
    if (existsSync(p)) return p;
  }
  throw new Error(`${bin} is not installed; run .ci/install-deps (or see README "Tests")`);
}

export function requireRoot(): void {
  if (process.getuid?.() !== 0) throw new Error('integration tests need root (they mount, export and create namespaces)');
}
