// A Runner for unit tests of the runner's callers: records argv, answers from a handler.
import type { Runner, RunResult, RunOptions, ToolStats } from '../../src/runner.ts';
import { formatCommand } from '../../src/runner.ts';
import { RunError } from '../../src/errors.ts';

export interface FakeCall {
  argv: string[];
  opts: RunOptions;
}

export type FakeHandler = (argv: string[]) => Partial<RunResult> | Promise<Partial<RunResult>> | void;

export function createFakeRunner(handler: FakeHandler = () => {}, dryRun = false): Runner & { calls: FakeCall[] } {
  const calls: FakeCall[] = [];
  const stats = new Map<string, ToolStats>();
  /** run() and call() alike: record, count, skip in dry-run, answer from the handler (a system call is never made) */
  async function answer(a: string[], tool: string, opts: RunOptions, syscall: boolean): Promise<RunResult> {
    calls.push({ argv: a, opts });
    const s = stats.get(tool) ?? { runs: 0, failures: 0 };
    s.runs++;
    stats.set(tool, s);
    const command = formatCommand(a);
    if (dryRun && opts.mutating) return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true };
    const r = (await handler(a)) ?? {};
    const res: RunResult = { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: false, ...r };
    if (res.exitCode !== 0) {
      s.failures++;
      if (!opts.allowFailure) throw new RunError(command, syscall ? undefined : res.exitCode, res.stderr);
    }
    return res;
  }
  return {
    dryRun,
    calls,
    stats: () => stats,
    run: (argv, opts = {}) => answer([...argv], argv[0]!.slice(argv[0]!.lastIndexOf('/') + 1), opts, false),
    call: (tool, equivalent, _fn, opts = {}) => answer([...equivalent], tool, opts, true),
    spawn() {
      throw new Error('fake runner: spawn not supported');
    },
    children: () => [],
    killChildren: () => 0,
  };
}
