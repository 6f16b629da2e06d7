// The Runner's side of the spawn helper (src/spawn-helper.ts): forked on first use, restarted on
// the next call after it dies (the calls in flight then fail with the reason), and never keeping
// the event loop alive on its own.
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import type { Logger } from 'pino';
import type { ChildResult } from './run-child.ts';
import type { HelperReply, HelperRequest } from './spawn-helper.ts';

/** Runs a command in the helper; same result shape as runChild. */
export interface SpawnHelper {
  run(argv: readonly string[], timeoutMs: number, input: string | undefined, env: Record<string, string> | undefined): Promise<ChildResult>;
  /** how many helper processes were started (tests) */
  starts(): number;
}

// the helper sits next to this file: .ts when run from the sources, .js from dist/
const HELPER = fileURLToPath(new URL(`./spawn-helper${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`, import.meta.url));

/** See the top comment. */
export function createSpawnHelper(log: Logger): SpawnHelper {
  let child: ChildProcess | undefined;
  let nextId = 0;
  let started = 0;
  const waiting = new Map<number, (r: ChildResult) => void>();

  const settleAll = (why: string) => {
    for (const done of waiting.values()) done({ stdout: '', stderr: '', exitCode: undefined, signal: null, timedOut: false, cause: new Error(why) });
    waiting.clear();
  };

  function start(): ChildProcess {
    // a small young generation keeps the helper (and so each fork) small; no inherited --cpu-prof etc.
    const c = fork(HELPER, [], { execArgv: ['--max-semi-space-size=1'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'], serialization: 'json' });
    started++;
    c.on('message', (m: HelperReply) => {
      const done = waiting.get(m.id);
      if (!done) return;
      waiting.delete(m.id);
      if (waiting.size === 0) c.channel?.unref();
      done({ stdout: m.stdout, stderr: m.stderr, exitCode: m.exitCode ?? undefined, signal: m.signal as NodeJS.Signals | null, timedOut: m.timedOut, cause: m.cause === undefined ? undefined : new Error(m.cause) });
    });
    const gone = (why: string) => {
      if (child !== c) return;
      child = undefined;
      if (waiting.size) log.error({ inFlight: waiting.size }, `spawn helper ${why}; its commands in flight fail, the next command starts a new helper`);
      settleAll(`spawn helper ${why} while the command ran (its outcome is unknown)`);
    };
    c.on('error', (e) => gone(`failed: ${e.message}`));
    c.on('exit', (code, signal) => gone(`exited (${signal ?? `code ${code}`})`));
    c.unref();
    c.channel?.unref();
    return c;
  }

  return {
    run(argv, timeoutMs, input, env) {
      child ??= start();
      const c = child;
      const id = nextId++;
      return new Promise((resolve) => {
        waiting.set(id, resolve);
        c.channel?.ref(); // a command in flight keeps the process alive, as a direct child would
        const req: HelperRequest = { id, argv: [...argv], timeoutMs, input, env };
        c.send(req, (e) => {
          if (e && waiting.delete(id)) resolve({ stdout: '', stderr: '', exitCode: undefined, signal: null, timedOut: false, cause: new Error(`spawn helper: ${e.message}`) });
        });
      });
    },
    starts: () => started,
  };
}
