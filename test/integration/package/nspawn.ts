// A throw-away Debian system with systemd as PID 1, for testing the .deb as an admin uses it:
// a Debian 12 rootfs made once by mmdebstrap and cached (PXEBOOTD_TEST_CACHE, default
// /var/cache/pxebootd-test), copied per run and booted with systemd-nspawn in cgroups of its own
// (this machine's PID 1 is not systemd; see ../shared/reference/package-lab.md).
import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync, openSync, closeSync } from 'node:fs';
import path from 'node:path';

export const TEST_CACHE = process.env.PXEBOOTD_TEST_CACHE ?? '/var/cache/pxebootd-test';
const MIRROR = 'http://deb.debian.org/debian';
const PATH_IN = 'PATH=/usr/sbin:/usr/bin:/sbin:/bin';

/** mmdebstrap's command line for the cached system; its hash names the cache entry. */
function mmdebstrapArgs(target: string): string[] {
  return [
    '--variant=minbase',
    // man-db so that `man pxebootd` can be tested; nothing pxebootd depends on, so that the
    // install has to fetch its Depends
    '--include=systemd,systemd-sysv,dbus,libpam-systemd,man-db',
    '--customize-hook=echo pkgtest > "$1/etc/hostname"',
    '--customize-hook=chroot "$1" passwd -d root',
    // empty: every boot makes a fresh machine id
    '--customize-hook=: > "$1/etc/machine-id"',
    'bookworm',
    target,
    `deb ${MIRROR} bookworm main`,
    `deb ${MIRROR} bookworm-updates main`,
  ];
}

/** Run a command to completion; rejects with its output on a non-zero exit or a timeout. */
export function run(cmd: string, args: string[], o: { timeoutMs?: number; cwd?: string; env?: NodeJS.ProcessEnv; input?: string } = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, { cwd: o.cwd, env: o.env, stdio: ['pipe', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${cmd} ${args.join(' ')}: no exit within ${o.timeoutMs} ms\n${stdout}\n${stderr}`));
    }, o.timeoutMs ?? 120_000);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code: code ?? -1, stdout, stderr });
    });
    // a child that exits without reading its input must not fail the run
    child.stdin.on('error', () => {});
    child.stdin.end(o.input ?? '');
  });
}

/** The cached Debian 12 rootfs, built by mmdebstrap when missing (30–60 s, ~215 MB). */
export async function ensureRootfs(cacheDir = TEST_CACHE): Promise<string> {
  const key = createHash('sha256').update(JSON.stringify(mmdebstrapArgs('TARGET'))).digest('hex').slice(0, 12);
  const dir = path.join(cacheDir, `rootfs-bookworm-${key}`);
  if (existsSync(path.join(dir, '.complete'))) return dir;
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${dir}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  try {
    const r = await run('mmdebstrap', mmdebstrapArgs(tmp), { timeoutMs: 15 * 60_000 });
    if (r.code !== 0) throw new Error(`mmdebstrap failed (exit ${r.code}):\n${r.stderr.slice(-3000)}`);
    writeFileSync(path.join(tmp, '.complete'), `${new Date().toISOString()}\n`);
    rmSync(dir, { recursive: true, force: true });
    renameSync(tmp, dir);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
  // an older recipe's rootfs is not used again
  for (const old of readdirSync(cacheDir)) {
    if (/^rootfs-bookworm-[0-9a-f]{12}$/.test(old) && path.join(cacheDir, old) !== dir) rmSync(path.join(cacheDir, old), { recursive: true, force: true });
  }
  return dir;
}

/** Mount points on this host at or below `dir`, deepest first. */
function hostMountsUnder(dir: string): string[] {
  const unescape = (s: string) => s.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8)));
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => unescape(l.split(' ')[4] ?? ''))
    .filter((m) => m === dir || m.startsWith(dir + '/'))
    .sort((a, b) => b.length - a.length);
}

/** Remove a run's rootfs copy without ever crossing into a mount. */
export function removeTree(dir: string): void {
  for (const m of hostMountsUnder(dir)) {
    try {
      execFileSync('umount', ['-l', m], { stdio: 'ignore' });
    } catch {
      // gone already
    }
  }
  if (existsSync(dir)) execFileSync('rm', ['-rf', '--one-file-system', dir], { stdio: 'ignore' });
}

export interface Container {
  name: string;
  pid1: number;
  /** sh -c CMD inside the container (its namespaces, a clean environment) */
  sh(cmd: string, o?: { timeoutMs?: number; input?: string }): Promise<{ code: number; stdout: string; stderr: string }>;
  /** poweroff, else SIGTERM/SIGKILL of nspawn and what is left in its cgroups; then remove them */
  stop(): Promise<void>;
  /** nspawn's console output so far (boot messages) */
  console(): string;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until<T>(what: string, deadlineMs: number, probe: () => T | undefined): Promise<T> {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = probe();
    if (v !== undefined) return v;
    if (Date.now() > end) throw new Error(`${what}: not within ${deadlineMs} ms`);
    await sleep(100);
  }
}

/** The cgroup directories nspawn runs in: both hierarchies on a hybrid host, the one on cgroup2. */
function cgroupDirs(name: string): string[] {
  if (existsSync('/sys/fs/cgroup/cgroup.controllers')) return [path.join('/sys/fs/cgroup', name)];
  return [path.join('/sys/fs/cgroup/unified', name), path.join('/sys/fs/cgroup/systemd', name)];
}

function treeDirs(dir: string): string[] {
  if (!existsSync(dir)) return [];
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) if (e.isDirectory()) out.push(...treeDirs(path.join(dir, e.name)));
  out.push(dir);
  return out;
}

function pidsIn(dirs: string[]): number[] {
  const pids = new Set<number>();
  for (const d of dirs.flatMap(treeDirs)) {
    try {
      for (const p of readFileSync(path.join(d, 'cgroup.procs'), 'utf8').split('\n')) if (p) pids.add(Number(p));
    } catch {
      // removed meanwhile
    }
  }
  return [...pids];
}

/** Boot `root` with systemd-nspawn -b and wait until its systemd says the system is up. */
export async function bootContainer(root: string, name: string, logFile: string): Promise<Container> {
  const cgs = cgroupDirs(`pkg-nspawn-${name}`);
  for (const d of cgs) mkdirSync(d, { recursive: true });
  const log = openSync(logFile, 'a');
  // the shell moves itself into the cgroups, then becomes nspawn (--keep-unit: stay there)
  const script = `${cgs.map((d) => `echo $$ > ${d}/cgroup.procs`).join(' && ')} && exec systemd-nspawn --boot --directory=${root} --machine=${name} --register=no --keep-unit --console=read-only`;
  let nspawn: ChildProcess | undefined = spawn('sh', ['-c', script], { stdio: ['ignore', log, log] });
  closeSync(log);
  let exited = false;
  const exit = new Promise<void>((r) => nspawn!.on('exit', () => ((exited = true), r())));
  const primary = cgs.at(-1)!;

  const stop = async () => {
    if (!nspawn) return;
    if (!exited && c.pid1) await run('nsenter', ['--target', String(c.pid1), '--all', 'env', '-i', PATH_IN, 'systemctl', 'poweroff', '--no-block'], { timeoutMs: 15_000 }).catch(() => {});
    const waitExit = (ms: number) => Promise.race([exit, sleep(ms)]);
    await waitExit(30_000);
    if (!exited) nspawn.kill('SIGTERM');
    await waitExit(10_000);
    if (!exited) nspawn.kill('SIGKILL');
    await waitExit(5_000);
    // whatever still runs in our cgroups was started by this container
    for (let i = 0; i < 50; i++) {
      const left = pidsIn(cgs);
      if (left.length === 0) break;
      for (const p of left) {
        try {
          process.kill(p, 'SIGKILL');
        } catch {
          // already gone
        }
      }
      await sleep(100);
    }
    for (const d of cgs.flatMap(treeDirs)) {
      for (let i = 0; i < 20; i++) {
        try {
          execFileSync('rmdir', [d], { stdio: 'ignore' });
          break;
        } catch {
          if (!existsSync(d)) break;
          await sleep(100);
        }
      }
    }
    nspawn = undefined;
  };

  const c: Container = {
    name,
    pid1: 0,
    console: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    sh: (cmd, o = {}) => run('nsenter', ['--target', String(c.pid1), '--all', 'env', '-i', PATH_IN, 'LANG=C.UTF-8', 'HOME=/root', 'sh', '-c', cmd], { timeoutMs: o.timeoutMs ?? 120_000, input: o.input }),
    stop,
  };
  try {
    c.pid1 = await until('container PID 1', 60_000, () => {
      if (exited) throw new Error(`systemd-nspawn exited:\n${c.console().slice(-3000)}`);
      const f = path.join(primary, 'payload', 'init.scope', 'cgroup.procs');
      const p = existsSync(f) ? Number(readFileSync(f, 'utf8').split('\n')[0]) : 0;
      return p > 0 ? p : undefined;
    });
    await until('systemd in the container (/run/systemd/private)', 60_000, () => (existsSync(`/proc/${c.pid1}/root/run/systemd/private`) ? true : undefined));
    const up = await c.sh('systemctl is-system-running --wait', { timeoutMs: 120_000 });
    if (!/^(running|degraded)/.test(up.stdout)) throw new Error(`container did not come up: ${up.stdout}${up.stderr}`);
  } catch (e) {
    await stop();
    throw e;
  }
  return c;
}
