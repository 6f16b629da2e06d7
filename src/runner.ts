// The one place that runs external commands: argv only (never a shell), a timeout, a logged
// copy-pasteable command line with its duration, and errors that carry command, exit code and stderr.
// System calls made in-process instead of a command (mount(2)) go through here too, with the same
// dry-run, logging and per-tool counts. It knows every child still running, so that stop can kill
// them all: nothing the daemon started outlives it.
import { execa, type ResultPromise } from 'execa';
import type { Logger } from 'pino';
import { RunError } from './errors.ts';

export interface RunOptions {
  /** default 30 s */
  timeoutMs?: number;
  /** a mutating command is only logged, never run, in dry-run mode */
  mutating?: boolean;
  /** do not throw on a non-zero exit; the caller inspects exitCode */
  allowFailure?: boolean;
  input?: string;
  env?: Record<string, string>;
  /** the child shares this process's stdin, and writes stdout and stderr to this process's stderr (an interactive shell whose own stdout stays free for a result); nothing is captured */
  inherit?: boolean;
}

export interface RunResult {
  command: string;
  stdout: string;
  stderr: string;
  exitCode: number;
  durationMs: number;
  /** true when dry-run mode skipped the command */
  skipped: boolean;
}

export interface ToolStats {
  runs: number;
  failures: number;
}

export interface Runner {
  readonly dryRun: boolean;
  run(argv: readonly string[], opts?: RunOptions): Promise<RunResult>;
  /**
   * An in-process system call standing in for `equivalent` (logged as that command line): skipped
   * in dry-run mode when mutating, timed and counted under `tool`; a rejection becomes a RunError
   * (or, with allowFailure, exitCode 1 and its message as stderr).
   */
  call(tool: string, equivalent: readonly string[], fn: () => Promise<void>, opts?: Pick<RunOptions, 'mutating' | 'allowFailure'>): Promise<RunResult>;
  /** a long-running child (e.g. `journalctl -f`); the caller owns its lifetime */
  spawn(argv: readonly string[]): ResultPromise<{ buffer: false; stdin: 'ignore'; reject: false }>;
  /** runs and failures per tool basename, for metrics and benchmarks */
  stats(): Map<string, ToolStats>;
  /** the children started by run() and spawn() that have not exited yet */
  children(): LiveChild[];
  /** send `signal` (default SIGKILL) to every live child; returns how many were signalled */
  killChildren(signal?: NodeJS.Signals): number;
}

/** A child process that has not exited yet. */
export interface LiveChild {
  pid: number;
  command: string;
  startedAt: number;
}

const SAFE = /^[A-Za-z0-9_@%+=:,./-]+$/;

/** Quote one argument so that the logged line can be pasted into a POSIX shell as is. */
export function shellQuote(arg: string): string {
  if (arg !== '' && SAFE.test(arg)) return arg;
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An argv as a copy-pasteable shell line for logs and errors (never run through a shell). */
export function formatCommand(argv: readonly string[]): string {
  return argv.map(shellQuote).join(' ');
}

function toolName(argv: readonly string[]): string {
  const first = argv[0] ?? '?';
  return first.slice(first.lastIndexOf('/') + 1);
}

/** The one way external commands run: argv only, logged with their duration, failures as RunError. */
export function createRunner(log: Logger, opts: { dryRun?: boolean } = {}): Runner {
  const dryRun = opts.dryRun ?? false;
  const stats = new Map<string, ToolStats>();
  const live = new Map<ResultPromise, LiveChild>();
  /** remember a started child until it exits (a child that failed to start has no pid) */
  const track = <P extends ResultPromise>(p: P, command: string): P => {
    if (p.pid === undefined) return p;
    live.set(p, { pid: p.pid, command, startedAt: Date.now() });
    const forget = () => live.delete(p);
    p.then(forget, forget);
    return p;
  };
  const bump = (tool: string, failed: boolean) => {
    const s = stats.get(tool) ?? { runs: 0, failures: 0 };
    s.runs++;
    if (failed) s.failures++;
    stats.set(tool, s);
  };

  return {
    dryRun,
    stats: () => stats,
    children: () => [...live.values()],
    killChildren(signal = 'SIGKILL') {
      let n = 0;
      for (const p of live.keys()) if (p.kill(signal)) n++;
      return n;
    },
    async run(argv, o = {}) {
      if (argv.length === 0) throw new Error('runner: empty argv');
      const command = formatCommand(argv);
      if (dryRun && o.mutating) {
        log.info({ cmd: command, dryRun: true }, `would run: ${command}`);
        return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true };
      }
      const t0 = performance.now();
      const child = execa(argv[0]!, argv.slice(1), {
        reject: false,
        timeout: o.timeoutMs ?? 30_000,
        input: o.input,
        ...(o.inherit ? { stdio: ['inherit', 2, 2] as const } : { stdin: o.input === undefined ? ('ignore' as const) : ('pipe' as const) }),
        env: o.env,
        extendEnv: true,
        stripFinalNewline: false,
        windowsHide: true,
      });
      const r = await track(child, command);
      const durationMs = Math.round((performance.now() - t0) * 100) / 100;
      const stdout = typeof r.stdout === 'string' ? r.stdout : '';
      const stderr = typeof r.stderr === 'string' ? r.stderr : '';
      const exitCode = r.exitCode ?? (r.failed ? -1 : 0);
      const failed = r.failed || exitCode !== 0;
      bump(toolName(argv), failed);
      if (failed) {
        const spawnError = r.exitCode === undefined && r.cause instanceof Error ? r.cause.message : undefined; // e.g. "spawn /x ENOENT"
        const why = r.timedOut ? `timed out after ${o.timeoutMs ?? 30_000} ms` : r.signal ? `killed by ${r.signal}` : spawnError;
        log.warn({ cmd: command, exitCode, durationMs, stderr: stderr.slice(0, 2000) }, `failed: ${command}${why ? ` (${why})` : ''}`);
        if (!o.allowFailure) {
          throw new RunError(command, r.exitCode, why ? `${why}\n${stderr}` : stderr, r.cause);
        }
      } else {
        log.debug({ cmd: command, durationMs }, `ran: ${command}`);
      }
      return { command, stdout, stderr, exitCode, durationMs, skipped: false };
    },
    async call(tool, equivalent, fn, o = {}) {
      // the command line is built when something shows it (a log line, an error, a result's reader)
      let line: string | undefined;
      const cmd = () => (line ??= formatCommand(equivalent));
      if (dryRun && o.mutating) {
        const command = cmd();
        log.info({ cmd: command, dryRun: true }, `would run: ${command}`);
        return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true };
      }
      const t0 = performance.now();
      let error: Error | undefined;
      await fn().catch((e: unknown) => {
        error = e instanceof Error ? e : new Error(String(e));
      });
      const durationMs = Math.round((performance.now() - t0) * 100) / 100;
      bump(tool, error !== undefined);
      if (error) {
        const command = cmd();
        log.warn({ cmd: command, syscall: tool, durationMs, err: error.message }, `failed: ${command} (${error.message})`);
        if (!o.allowFailure) throw new RunError(command, undefined, error.message, error);
        return { command, stdout: '', stderr: error.message, exitCode: 1, durationMs, skipped: false };
      }
      if (log.isLevelEnabled('debug')) log.debug({ cmd: cmd(), syscall: tool, durationMs }, `ran: ${cmd()}`);
      return {
        get command() {
          return cmd();
        },
        stdout: '',
        stderr: '',
        exitCode: 0,
        durationMs,
        skipped: false,
      };
    },
    spawn(argv) {
      if (argv.length === 0) throw new Error('runner: empty argv');
      log.info({ cmd: formatCommand(argv) }, `started: ${formatCommand(argv)}`);
      bump(toolName(argv), false);
      return track(execa(argv[0]!, argv.slice(1), { buffer: false, stdin: 'ignore', reject: false }), formatCommand(argv));
    },
  };
}
