// Shared by the tests that put a FIFO, a device or a foreign symlink where pxebootd reads a file:
// the CLI run asynchronously with a deadline (a hung daemon must fail the test, not hang it), the
// daemon's JSON log, replacing a path atomically, and waiting for a PID to exit.
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { pxebootdArgv, rssBytes } from '../../../bench/lib/daemon.ts';
import type { Daemon } from '../../helpers/lab.ts';

/** One `pxebootd ...` run: exit code (null when killed at the deadline), output, duration. */
export interface CliRun {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
  timedOut: boolean;
}

/** Run the CLI without blocking the test's event loop; killed after `timeoutMs`. */
export function cli(args: string[], timeoutMs = 20_000): Promise<CliRun> {
  const argv = pxebootdArgv();
  const t0 = Date.now();
  return new Promise((resolve) => {
    execFile(argv[0]!, [...argv.slice(1), ...args], { timeout: timeoutMs, killSignal: 'SIGKILL', encoding: 'utf8' }, (err, stdout, stderr) => {
      const e = err as (Error & { code?: number | string; killed?: boolean }) | null;
      resolve({ code: e ? (typeof e.code === 'number' ? e.code : null) : 0, stdout, stderr, ms: Date.now() - t0, timedOut: !!e?.killed });
    });
  });
}

/** The daemon's log lines (pino JSON), parsed; non-JSON lines are kept as { msg }. */
export function logEntries(file: string): Array<Record<string, unknown> & { msg?: string }> {
  return readFileSync(file, 'utf8')
    .split('\n')
    .filter(Boolean)
    .map((l) => {
      try {
        return JSON.parse(l) as Record<string, unknown>;
      } catch {
        return { msg: l };
      }
    });
}

/** Log messages matching `re`. */
export function logMatches(file: string, re: RegExp): string[] {
  return logEntries(file)
    .map((e) => String(e.msg ?? ''))
    .filter((m) => re.test(m));
}

/** Put `content` at `file` the way a careful writer does: temp file, then rename over whatever is there. */
export function replaceWithFile(file: string, content: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.tmp`);
  writeFileSync(tmp, content);
  renameSync(tmp, file);
}

/** Put a FIFO at `file` (renamed over whatever is there). */
export function replaceWithFifo(file: string): void {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.fifo`);
  execFileSync('mkfifo', [tmp]);
  renameSync(tmp, file);
}

/** Resolves true if the daemon exits within `ms` of now, false otherwise (it is not killed here). */
export async function exitsWithin(d: Daemon, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const r = await Promise.race([d.exited.then(() => true), new Promise<boolean>((res) => (timer = setTimeout(() => res(false), ms)))]);
  clearTimeout(timer);
  return r;
}

/** Highest VmRSS (bytes) of `pid` seen while sampling every 100 ms for `ms`; stops early above `failAbove`. */
export async function peakRss(pid: number, ms: number, failAbove: number): Promise<number> {
  let peak = 0;
  const until = Date.now() + ms;
  while (Date.now() < until) {
    peak = Math.max(peak, rssBytes(pid));
    if (peak > failAbove) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  return peak;
}

/** A syslog line from dnsmasq-dhcp (a trusted program) acknowledging a lease. */
export function dhcpAckLine(ip: string, mac: string, hostname: string): string {
  return `Nov 22 10:00:00 boot dnsmasq-dhcp[812]: DHCPACK(br0) ${ip} ${mac} ${hostname}\n`;
}
