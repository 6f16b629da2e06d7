// The daemon's memory tuning, all of it, behind one switch: PXEBOOTD_MEMORY_TUNING=off turns every
// piece off (for measuring what they buy, or when one is suspected of a problem). Each piece is here
// because a same-run comparison showed it lowering the 10,000-node peak RSS by at least 10 MB or
// 10%; the table is in docs/performance.md. Nothing else in pxebootd knows about memory.
//
// Start-up part (bin/pxebootd.js): V8 flags and the allocator's environment take effect only at
// process start (v8.setFlagsFromString and mallopt are too late), so `pxebootd run` re-executes
// itself in place with them: same PID (execve), so systemd and pid files see one process. Each
// setting the caller already made (node flags, NODE_OPTIONS, the environment) is kept as is.
//  - --max-semi-space-size=2: V8's young generation grows during a burst of thousands of events
//    up to its default maximum and stays committed afterwards.
//  - MALLOC_ARENA_MAX=1: glibc gives each thread that allocates (V8's GC and compiler threads,
//    libuv's pool) its own arena, and each keeps what it freed; one arena for all.
//
// Run-time part (the daemon's start()): a cap on V8's old-generation growth factor. By default V8
// lets the heap grow to several times what survived the last full collection before collecting
// again; a burst keeps little alive while it churns through many short-lived strings (mountinfo,
// exports and etab text, state pieces, status replies), so a lower factor collects sooner and the
// peak stays lower. The flag is read after every full collection, so setting it at run time works.
import v8 from 'node:v8';

/** The one switch: tuning is on unless PXEBOOTD_MEMORY_TUNING=off. */
export function memoryTuningOn(env: NodeJS.ProcessEnv = process.env): boolean {
  return env.PXEBOOTD_MEMORY_TUNING !== 'off';
}

const STARTUP_FLAGS: ReadonlyArray<readonly [name: string, flag: string]> = [['--max-semi-space-size', '--max-semi-space-size=2']];
const STARTUP_ENV: Readonly<Record<string, string>> = { MALLOC_ARENA_MAX: '1' };

/**
 * What `pxebootd run` must re-execute itself with (flags before its own execArgv, variables to add
 * to its environment), or undefined when nothing is missing: the caller's own settings win.
 */
export function startupProfile(execArgv: readonly string[], env: NodeJS.ProcessEnv): { flags: string[]; env: Record<string, string> } | undefined {
  if (!memoryTuningOn(env)) return undefined;
  const given = (name: string) => execArgv.some((a) => a.startsWith(name)) || (env.NODE_OPTIONS ?? '').includes(name);
  const flags = STARTUP_FLAGS.filter(([name]) => !given(name)).map(([, flag]) => flag);
  const add = Object.fromEntries(Object.entries(STARTUP_ENV).filter(([k]) => env[k] === undefined));
  return flags.length || Object.keys(add).length ? { flags, env: add } : undefined;
}

/** V8's old-generation growth factor while the daemon runs, in percent over what survived. */
const HEAP_GROWING_PERCENT = 30;

/** The run-time part, called once by the daemon's start(); false when the switch is off or V8 refused. */
export function tuneRunningHeap(env: NodeJS.ProcessEnv = process.env): boolean {
  if (!memoryTuningOn(env)) return false;
  try {
    v8.setFlagsFromString(`--heap-growing-percent=${HEAP_GROWING_PERCENT}`);
    return true;
  } catch {
    return false;
  }
}
