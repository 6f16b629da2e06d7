// Runs one child with node:child_process and collects its output: the runner's in-process path and
// the body of the spawn helper (src/spawn-helper.ts), so both behave the same.
import { spawn as spawnChild, type ChildProcess } from 'node:child_process';

export interface ChildResult {
  stdout: string;
  stderr: string;
  /** undefined when the child did not exit normally (spawn error, signal, timeout) */
  exitCode: number | undefined;
  signal: NodeJS.Signals | null;
  timedOut: boolean;
  cause?: Error;
}

/**
 * One child with node:child_process directly: execa's per-call option handling and stream plumbing
 * cost ~30% more main-thread time per spawn (measured), and mount/exportfs are the hot path.
 */
export function runChild(argv: readonly string[], timeoutMs: number, input: string | undefined, env: Record<string, string> | undefined): Promise<ChildResult> {
  return new Promise((resolve) => {
    let stdout = '';
    let stderr = '';
    let timedOut = false;
    let cause: Error | undefined;
    let child: ChildProcess;
    try {
      child = spawnChild(argv[0]!, argv.slice(1), {
        stdio: [input === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
        env: env ? { ...process.env, ...env } : process.env,
        windowsHide: true,
      });
    } catch (e) {
      resolve({ stdout, stderr, exitCode: undefined, signal: null, timedOut, cause: e as Error });
      return;
    }
    let killer: NodeJS.Timeout | undefined;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGTERM');
      killer = setTimeout(() => child.kill('SIGKILL'), 5000); // as execa did: a command ignoring SIGTERM still ends
    }, timeoutMs);
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => (stderr += d));
    child.on('error', (e) => (cause ??= e)); // e.g. "spawn /x ENOENT"; 'close' still follows
    if (child.stdin) {
      child.stdin.on('error', () => {}); // EPIPE when the command exits without reading its input
      child.stdin.end(input);
    }
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      if (killer) clearTimeout(killer);
      resolve({ stdout, stderr, exitCode: cause || timedOut || signal ? undefined : (code ?? undefined), signal, timedOut, cause });
    });
  });
}
