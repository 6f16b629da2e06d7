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
  return {
    dryRun,
    calls,
    stats: () => stats,
    async run(argv, opts = {}) {
      const a = [...argv];
      calls.push({ argv: a, opts });
      const tool = a[0]!.slice(a[0]!.lastIndexOf('/') + 1);
      const s = stats.get(tool) ?? { runs: 0, failures: 0 };
      s.runs++;
      stats.set(tool, s);
      const command = formatCommand(a);
      if (dryRun && opts.mutating) return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true };
      const r = (await handler(a)) ?? {};
      const res: RunResult = { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: false, ...r };
      if (res.exitCode !== 0) {
        s.failures++;
        if (!opts.allowFailure) throw new RunError(command, res.exitCode, res.stderr);
      }
      return res;
    },
    async call(tool, equivalent, _fn, opts = {}) {
      const a = [...equivalent];
      calls.push({ argv: a, opts });
      const s = stats.get(tool) ?? { runs: 0, failures: 0 };
      s.runs++;
      stats.set(tool, s);
      const command = formatCommand(a);
      if (dryRun && opts.mutating) return { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: true };
      const r = (await handler(a)) ?? {};
      // like run(): the handler answers for the system call, which is never made
      const res: RunResult = { command, stdout: '', stderr: '', exitCode: 0, durationMs: 0, skipped: false, ...r };
      if (res.exitCode !== 0) {
        s.failures++;
        if (!opts.allowFailure) throw new RunError(command, undefined, res.stderr);
      }
      return res;
    },
    spawn() {
      throw new Error('fake runner: spawn not supported');
    },
  };
}
