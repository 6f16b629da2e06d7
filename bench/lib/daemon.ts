// Start `pxebootd run` as a child process (its own session, killed by PID at clean-up) and wait for it.
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { execFileSync } from 'node:child_process';
import { startDaemon, waitFor, type Daemon } from '../../test/helpers/lab.ts';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/**
 * argv prefix that runs the CLI from the TypeScript sources of this checkout. Not bin/pxebootd.js:
 * it prefers dist/, which may be older than the working tree when a file is run without a build.
 */
export function pxebootdArgv(): string[] {
  // the bench runner sets PXG_CLI=dist after checking that dist/ is newer than every source file
  if (process.env.PXG_CLI === 'dist') return [process.execPath, path.join(ROOT, 'bin/pxebootd.js')];
  return [process.execPath, path.join(ROOT, 'src/cli/main.ts')];
}

/** True when dist/src/cli/main.js is newer than every .ts file the build compiles. */
export function distIsFresh(): boolean {
  const built = path.join(ROOT, 'dist/src/cli/main.js');
  if (!existsSync(built)) return false;
  const t = statSync(built).mtimeMs;
  const newest = (dir: string): number => {
    let m = 0;
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) m = Math.max(m, newest(p));
      else if (e.name.endsWith('.ts')) m = Math.max(m, statSync(p).mtimeMs);
    }
    return m;
  };
  return ['src', 'watchers', 'provisioners'].every((d) => newest(path.join(ROOT, d)) <= t);
}

/** True when the daemon's CLI entry exists in this checkout. */
export function haveDaemon(): boolean {
  return existsSync(path.join(ROOT, 'src/cli/main.ts')) || existsSync(path.join(ROOT, 'bin/pxebootd.js'));
}

/** Run `pxebootd run -c cfg`; resolves once this very process answers `status` on its socket. */
export async function startPxebootd(cfg: string, socket: string, logFile: string, extraArgs: string[] = [], nodeArgs: string[] = [], logLevel?: string): Promise<Daemon> {
  const argv = pxebootdArgv();
  const d = startDaemon('pxebootd', [argv[0]!, ...nodeArgs, ...argv.slice(1), 'run', '-c', cfg, ...extraArgs], {
    logFile,
    env: { ...process.env, PXEBOOTD_LOG_LEVEL: logLevel ?? process.env.PXEBOOTD_LOG_LEVEL ?? 'warn' },
  });
  let exited = false;
  void d.exited.then(() => (exited = true));
  // a SIGKILLed predecessor leaves its socket file behind, so existence proves nothing: ask
  await waitFor(
    `pxebootd pid ${d.pid} answering on ${socket} (log: ${logFile})`,
    () => {
      if (exited) throw new Error(`pxebootd exited early; log:\n${readFileSync(logFile, 'utf8').slice(-3000)}`);
      if (!existsSync(socket)) return false;
      const s = statusFull(cfg);
      return s.from === 'daemon' && s.daemon?.pid === d.pid;
    },
    30_000,
    50,
  );
  return d;
}

/** `pxebootd status --json -c cfg`, parsed: who answered (the daemon or the state file) and the nodes. */
export function statusFull(cfg: string): { from: string; daemon?: { pid?: number }; nodes: Array<Record<string, unknown>> } {
  const argv = pxebootdArgv();
  const out = execFileSync(argv[0]!, [...argv.slice(1), 'status', '--json', '-c', cfg], { encoding: 'utf8', maxBuffer: 512 * 1024 * 1024 });
  const v = JSON.parse(out) as { from?: string; daemon?: { pid?: number }; nodes?: unknown };
  if (!Array.isArray(v.nodes)) throw new Error(`status --json: expected {from, nodes: [...]}, found ${out.slice(0, 200)}`);
  return { from: String(v.from), daemon: v.daemon, nodes: v.nodes as Array<Record<string, unknown>> };
}

/** The nodes of `pxebootd status --json -c cfg`. */
export function statusJson(cfg: string): Array<Record<string, unknown>> {
  return statusFull(cfg).nodes;
}

/** CPU ms used so far by process `pid`: all its threads (/proc/PID/stat) and its main thread (/proc/PID/schedstat). */
export function cpuOf(pid: number): { all: number; main: number } {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // utime and stime are fields 14 and 15 of the line (11 and 12 after the command); in clock ticks (100/s)
  const all = ((Number(f[11]) + Number(f[12])) * 1000) / 100;
  const main = Number(readFileSync(`/proc/${pid}/schedstat`, 'utf8').split(' ')[0]) / 1e6;
  return { all, main };
}

/** Resident set size of a PID in bytes, from /proc. */
export function rssBytes(pid: number): number {
  const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) * 1024 : Number.NaN;
}

/** From a pxebootd JSON log at debug level: each runner command's duration by tool, and each node's seen-to-ready ms. */
export function readDaemonTimings(logFile: string): { byTool: Record<string, number[]>; readyMs: number[] } {
  const byTool: Record<string, number[]> = {};
  const readyMs: number[] = [];
  for (const line of readFileSync(logFile, 'utf8').split('\n')) {
    if (!line.startsWith('{')) continue;
    let o: { cmd?: string; durationMs?: number; msg?: string; ms?: number };
    try {
      o = JSON.parse(line) as typeof o;
    } catch {
      continue;
    }
    if (o.cmd && typeof o.durationMs === 'number') {
      const tool = path.basename(o.cmd.split(' ')[0]!);
      (byTool[tool] ??= []).push(o.durationMs);
    } else if (typeof o.ms === 'number' && /^node \S+ ready$/.test(o.msg ?? '')) readyMs.push(o.ms);
  }
  return { byTool, readyMs };
}
