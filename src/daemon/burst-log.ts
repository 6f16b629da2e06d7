// Events that come in bursts (a lease file read at start-up, 100,000 leases removed at once) must
// not write one info line each. Each event is counted under a group (a rule, an outcome); when a
// window ends with no new event in its last half (the burst is over), or at the latest BURST_MAX_WINDOWS windows
// after the first one, every group gets one info line with its count and its first event as the
// example. A burst costs one line per group however long it takes (up to 10 s at the defaults);
// a steady stream, one per group every 10 s. Callers log each event itself at debug level.
import type { Logger } from 'pino';

/** How often (ms) a pending summary checks whether its burst is over. */
export const BURST_WINDOW_MS = 1000;
/** A burst that goes on is summarised at least every this many windows. */
export const BURST_MAX_WINDOWS = 10;

/** One summary line: pino fields and the message. */
export interface BurstLine {
  fields: Record<string, unknown>;
  msg: string;
}

/** Counts events per group and writes the summaries. */
export interface BurstLog<T> {
  /** count one event of `group`; the first of a window is the example the summary names */
  add(group: string, example: T): void;
  /** write pending summaries now (at stop) */
  flush(): void;
}

/** `render` turns a group's count and example into its line; it is called only when the line is written. */
export function createBurstLog<T>(log: Logger, render: (group: string, count: number, example: T) => BurstLine, windowMs: number = BURST_WINDOW_MS): BurstLog<T> {
  const pending = new Map<string, { count: number; example: T }>();
  let timer: NodeJS.Timeout | undefined;
  let windows = 0;
  let lastAdd = 0;

  function arm(): void {
    timer = setTimeout(tick, windowMs);
    timer.unref();
  }
  function tick(): void {
    // an event in the last half window: the burst goes on
    if (Date.now() - lastAdd < windowMs / 2 && ++windows < BURST_MAX_WINDOWS) return arm();
    flush();
  }
  function flush(): void {
    if (timer) clearTimeout(timer);
    timer = undefined;
    for (const [group, p] of pending) {
      const line = render(group, p.count, p.example);
      log.info(line.fields, line.msg);
    }
    pending.clear();
    windows = 0;
  }

  return {
    add(group, example) {
      const p = pending.get(group);
      if (p) p.count++;
      else pending.set(group, { count: 1, example });
      lastAdd = Date.now();
      if (!timer) arm();
    },
    flush,
  };
}
