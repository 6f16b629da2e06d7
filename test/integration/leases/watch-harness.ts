// Test plumbing for lease-watcher tests: a WatcherContext around a recording sink, and waiting for
// events with the wall-clock time (sub-ms) at which the sink received them.
import type { WatcherContext } from '../../../src/contracts.ts';
import type { BadInput, ClientEvent, Config, LeaseSourceType } from '../../../src/types.ts';
import { silentLogger } from '../../../src/log.ts';
import { createFakeRunner } from '../../helpers/fake-runner.ts';
import { createLeaseWatcher, type LeaseWatcherOptions } from '../../../watchers/leases/lease-watcher.ts';
import { MIN_WAIT_MS, onCleanup } from '../../helpers/lab.ts';

export interface Received {
  e: ClientEvent;
  /** ms since epoch, sub-ms precision, when the sink got it */
  at: number;
}

export const nowMs = (): number => performance.timeOrigin + performance.now();

/** A started lease watcher plus everything it emitted. Stopped at cleanup if the test did not. */
export async function watchLeases(type: LeaseSourceType, path: string, opts: LeaseWatcherOptions = {}, onEvent?: (r: Received) => void) {
  const events: Received[] = [];
  const bad: BadInput[] = [];
  const waiters: Array<() => void> = [];
  const ctx: WatcherContext = {
    config: {} as Config,
    source: { type, path },
    log: silentLogger(),
    runner: createFakeRunner(),
    sink: {
      event(e) {
        const r = { e, at: nowMs() };
        onEvent?.(r);
        events.push(r);
        for (const w of waiters.splice(0)) w();
      },
      bad(b) {
        bad.push(b);
      },
    },
  };
  const w = createLeaseWatcher(ctx, opts);
  await w.start();
  let stopped = false;
  onCleanup(`lease watcher ${path}`, () => {
    if (!stopped) void w.stop();
  });
  return {
    watcher: w,
    events,
    bad,
    async stop() {
      stopped = true;
      await w.stop();
    },
    /** resolve with the first event (from index `from` on) matching `pred` */
    async next(what: string, pred: (e: ClientEvent) => boolean, timeoutMs = 5000, from = 0): Promise<Received> {
      // as waitFor: a loaded CI machine gets at least MIN_WAIT_MS; a passing test waits no longer
      timeoutMs = Math.max(timeoutMs, MIN_WAIT_MS);
      const until = Date.now() + timeoutMs;
      for (;;) {
        const hit = events.slice(from).find((r) => pred(r.e));
        if (hit) return hit;
        const left = until - Date.now();
        if (left <= 0) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${events.length} events, the last: ${JSON.stringify(events.slice(-3).map((r) => brief(r.e)))}`);
        await new Promise<void>((res) => {
          const t = setTimeout(res, left);
          waiters.push(() => {
            clearTimeout(t);
            res();
          });
        });
      }
    },
  };
}

export const brief = (e: ClientEvent): string => `${e.kind} ${e.ip} ${e.mac ?? '-'}${e.kind === 'gone' ? ` (${e.reason})` : ''}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
