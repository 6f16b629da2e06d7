// The spawn helper: a small Node process the Runner forks once and sends argv to over IPC. fork()
// cost grows with the forking process's address space, so mount/exportfs forked from here (a few
// tens of MB) instead of from the daemon (150-280 MB) cost the daemon's main thread almost nothing.
// Never a shell: argv goes to child_process.spawn as is. Exits when the daemon goes away.
import { runChild } from './run-child.ts';

/** One request from the Runner. */
export interface HelperRequest {
  id: number;
  argv: string[];
  timeoutMs: number;
  input?: string;
  env?: Record<string, string>;
}

/** One reply; `cause` is the spawn error's message (e.g. "spawn /x ENOENT"). */
export interface HelperReply {
  id: number;
  stdout: string;
  stderr: string;
  exitCode: number | undefined;
  signal: string | null;
  timedOut: boolean;
  cause?: string;
}

if (process.send) {
  process.on('message', (m: HelperRequest) => {
    void runChild(m.argv, m.timeoutMs, m.input, m.env).then((r) => {
      const reply: HelperReply = { id: m.id, stdout: r.stdout, stderr: r.stderr, exitCode: r.exitCode, signal: r.signal, timedOut: r.timedOut, cause: r.cause?.message };
      process.send?.(reply);
    });
  });
  process.on('disconnect', () => process.exit(0));
}
