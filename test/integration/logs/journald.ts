// Test helper: systemd-journald started by hand (no systemd as PID 1) in a private mount namespace
// whose /run and /var/log/journal are bind mounts of dirs under `dir` (reference/e2e-lab.md §6).
// The host reads it with `journalctl -D <journalDir>` and writes with `logger --socket <devLog>`.
import { existsSync, mkdirSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { requireTool, startDaemon, waitFor, type Daemon } from '../../helpers/lab.ts';

export interface Journald {
  daemon: Daemon;
  /** pass to journalctl -D (the journal source's `directory`) */
  journalDir: string;
  /** the syslog socket (`logger --socket`) */
  devLog: string;
  log(tag: string, message: string): void;
}

export async function startJournald(dir: string): Promise<Journald> {
  const bin = '/lib/systemd/systemd-journald';
  if (!existsSync(bin)) throw new Error(`${bin} is missing: install the systemd package`);
  requireTool('unshare');
  requireTool('logger');
  const run = path.join(dir, 'run');
  const varj = path.join(dir, 'var');
  mkdirSync(run, { recursive: true });
  mkdirSync(varj, { recursive: true });
  mkdirSync('/var/log/journal', { recursive: true });
  const script = `mount --bind '${run}' /run && mount --bind '${varj}' /var/log/journal && mkdir -p /run/systemd/journal && exec ${bin}`;
  // slave, not private: its copy of every mount below a shared subtree (other tests' node overlays,
  // exported by Ganesha) must go when the host unmounts them, or it pins the overlay ("upperdir is in-use")
  const daemon = startDaemon('systemd-journald', ['unshare', '-m', '--propagation', 'slave', 'sh', '-c', script], { logFile: path.join(dir, 'journald.out') });
  const devLog = path.join(run, 'systemd/journal/dev-log');
  const journalDir = path.join(run, 'log/journal');
  await waitFor('journald sockets', () => existsSync(devLog) && existsSync(journalDir), 10_000);
  return {
    daemon,
    journalDir,
    devLog,
    log(tag, message) {
      execFileSync('logger', ['--socket', devLog, '-t', tag, '-p', 'daemon.notice', '--', message]);
    },
  };
}
