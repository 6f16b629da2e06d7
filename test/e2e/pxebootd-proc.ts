// pxebootd built from this checkout, run the way an admin runs it (`pxebootd run -c FILE`), as a
// child we own: stopped with SIGTERM, or SIGKILLed by PID for the restart scenario.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { startDaemon, type Daemon } from '../helpers/lab.ts';
import { REPO_ROOT } from '../helpers/e2e-assets.ts';

/** bin/pxebootd.js (the installed entry point) when present, else the TypeScript CLI. */
export function pxebootdEntry(): string {
  const bin = path.join(REPO_ROOT, 'bin', 'pxebootd.js');
  if (existsSync(bin)) return bin;
  const src = path.join(REPO_ROOT, 'src', 'cli', 'main.ts');
  if (existsSync(src)) return src;
  throw new Error(`pxebootd: neither ${bin} nor ${src} exists in this checkout`);
}

export interface PxebootdProc {
  daemon: Daemon;
  pid: number;
  logFile: string;
  startedAt: number;
  /** the log so far */
  log(): string;
  stop(): Promise<void>;
  /** SIGKILL, no chance to clean up (the restart scenario) */
  kill9(): Promise<void>;
}

/** Start `pxebootd run -c configFile`, logs (JSON lines) appended to logFile. */
export async function startPxebootd(configFile: string, logFile: string, ready: () => boolean, timeoutMs = 20_000): Promise<PxebootdProc> {
  const startedAt = Date.now();
  const daemon = startDaemon('pxebootd', [process.execPath, pxebootdEntry(), 'run', '-c', configFile], { logFile });
  const log = () => (existsSync(logFile) ? readFileSync(logFile, 'utf8') : '');
  // not waitFor(): it would keep polling after the daemon died
  const until = Date.now() + timeoutMs;
  while (!ready()) {
    if (daemon.child.exitCode !== null || daemon.child.signalCode !== null) {
      throw new Error(`pxebootd exited (${daemon.child.exitCode ?? daemon.child.signalCode}) before it was ready: ${log().slice(-2000)}`);
    }
    if (Date.now() > until) throw new Error(`pxebootd not ready within ${timeoutMs} ms; log ${logFile}: ${log().slice(-2000)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  return {
    daemon,
    pid: daemon.pid,
    logFile,
    startedAt,
    log,
    stop: () => daemon.stop(5000),
    async kill9() {
      process.kill(daemon.pid, 'SIGKILL');
      await daemon.exited;
    },
  };
}

/** `pxebootd status --json -c configFile`, normalised to a list of node records. */
export function pxebootdStatus(configFile: string): Array<Record<string, unknown>> {
  const out = execFileSync(process.execPath, [pxebootdEntry(), 'status', '--json', '-c', configFile], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  const v = JSON.parse(out) as unknown;
  const list = Array.isArray(v) ? v : ((v as { nodes?: unknown }).nodes ?? []);
  if (!Array.isArray(list)) throw new Error(`pxebootd status --json: expected a list of nodes, got ${out.slice(0, 300)}`);
  return list as Array<Record<string, unknown>>;
}
