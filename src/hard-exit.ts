// Leaving the process when process.exit() would hang: process.exit() joins libuv's thread-pool
// workers on the way out, and a worker blocked in a read that never returns makes it wait forever.
import { loadAddon } from './native.ts';

interface HardExitAddon {
  exitNow(code: number): never;
}

/** Why this installation cannot _exit(2), or undefined when it can. */
export function hardExitUnavailable(): string | undefined {
  const a = loadAddon<HardExitAddon>('hardexit', '_exit(2) (stop deadline)');
  return 'why' in a ? a.why : undefined;
}

/**
 * Exit now with `code`, without exit handlers (the caller's logs must already be written). Without
 * the hardexit addon the process SIGKILLs itself: it still ends, but its exit status is "killed".
 */
export function hardExit(code: number): never {
  const a = loadAddon<HardExitAddon>('hardexit', '_exit(2) (stop deadline)');
  if ('mod' in a) a.mod.exitNow(code);
  process.kill(process.pid, 'SIGKILL');
  // the kernel ends every thread of the process; wait for it without running anything else
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 5000);
  throw new Error('hardExit: still running 5 s after SIGKILL');
}
