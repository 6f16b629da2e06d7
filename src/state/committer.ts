// Group commit for one file: changes bump a sequence number; a write snapshots the sequence,
// writes, and then releases every waiter whose change it covered. Writes are chained, so a queued
// write finds nothing left to do when an earlier one already covered it. Unawaited changes are
// written after a delay that grows with the cost of a write (a 10,000-node state.json is not
// rewritten for every TFTP request).
import type { Logger } from 'pino';
import { STATE_MAX_LAZY_MS } from '../timing.ts';

export interface CommitterOptions {
  /** dry-run: never write, commits resolve at once */
  off: boolean;
  /** write the current in-memory data (atomically) */
  write: () => Promise<void>;
  /** least delay before an unawaited change is written (default 50 ms) */
  lazyMs?: number;
  /** longest such delay (default 5 s) */
  maxLazyMs?: number;
  /** delay before retrying a failed write (default 1 s) */
  retryMs?: number;
  /** an unawaited write is put off while this returns true, up to maxLazyMs after the change */
  deferWhile?: () => boolean;
  log: Logger;
  /** the file, for log lines and errors */
  what: string;
}

/** See the top comment. */
export interface Committer {
  changed(): void;
  commit(): Promise<void>;
  writes(): number;
  /** run `fn` between writes (none is in flight meanwhile): the store rotates state.log with it */
  exclusive<T>(fn: () => Promise<T>): Promise<T>;
  /** write what is pending, stop timers; rejects when the last write failed */
  close(): Promise<void>;
}

export function createCommitter(o: CommitterOptions): Committer {
  const lazyMs = o.lazyMs ?? 50;
  const maxLazyMs = o.maxLazyMs ?? STATE_MAX_LAZY_MS;
  const retryMs = o.retryMs ?? 1000;
  let changeSeq = 0;
  let durableSeq = 0;
  let lastWriteMs = 0;
  let count = 0;
  let timer: NodeJS.Timeout | undefined;
  let closed = false;
  let lastError: Error | undefined;
  let waiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];
  let chain: Promise<void> = Promise.resolve();

  let firstUnwrittenAt = 0;
  function schedule(ms: number): void {
    if (o.off || closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      if (o.deferWhile?.() && Date.now() - firstUnwrittenAt < maxLazyMs) return schedule(lazyMs);
      void flush();
    }, ms);
    timer.unref?.();
  }

  function flush(): Promise<void> {
    chain = chain.then(writeOnce);
    return chain;
  }

  async function writeOnce(): Promise<void> {
    if (durableSeq >= changeSeq) return;
    const seq = changeSeq;
    const t0 = performance.now();
    try {
      await o.write();
      lastWriteMs = performance.now() - t0;
      count++;
      durableSeq = seq;
      lastError = undefined;
      const done = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      done.forEach((w) => w.resolve());
    } catch (e) {
      lastError = new Error(`writing ${o.what} failed (the previous file is intact): ${(e as Error).message}`, { cause: e });
      o.log.error({ err: lastError.message, file: o.what }, 'state write failed; will retry');
      const failed = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      failed.forEach((w) => w.reject(lastError!));
      if (timer) clearTimeout(timer);
      timer = undefined;
      schedule(retryMs);
    }
  }

  return {
    changed() {
      if (durableSeq >= changeSeq) firstUnwrittenAt = Date.now();
      changeSeq++;
      schedule(Math.min(maxLazyMs, Math.max(lazyMs, Math.round(lastWriteMs * 5))));
    },
    commit() {
      if (o.off || durableSeq >= changeSeq) return Promise.resolve();
      const p = new Promise<void>((resolve, reject) => waiters.push({ seq: changeSeq, resolve, reject }));
      void flush();
      return p;
    },
    writes: () => count,
    exclusive(fn) {
      const run = chain.then(fn);
      chain = run.then(
        () => {},
        () => {},
      );
      return run;
    },
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (!o.off) await flush();
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (lastError && durableSeq < changeSeq) throw lastError;
    },
  };
}
