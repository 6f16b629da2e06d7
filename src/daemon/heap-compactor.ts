// Give memory back after a burst. A storm of thousands of clients leaves V8's old space several
// times larger than what stays alive (73 MB committed for 30 MB live at 10,000 nodes), and V8's own
// memory reducer shrinks it only sometimes, seconds later. So once a burst of jobs is over (the
// queue idle for two checks in a row) and the committed heap grew a lot since the last compaction
// (or start-up; `used` is no guide before a collection, it counts the garbage too), one memory-reducing
// collection is run (about 150-250 ms on 2 cores at 10,000 nodes, at most once per `minGapMs`):
// RSS drops from ~175 MB to ~105 MB. A few jobs (a single client booting) never trigger it.
// The collection itself costs memory for a moment: it evacuates live objects into fresh pages before
// the old ones are unmapped (old space seen at 78 MB committed for 22 MB used right after one, RSS
// +20-60 MB over the burst's own peak when a `status` call overlapped it). Since a 10,000-node burst
// grows the heap by only ~35-45 MB (bounded intake, docs/performance.md finding 5), the default
// threshold is 64 MiB: that burst is left to V8 (RSS stays ~105-128 MB), a much larger growth is not.
// The committed heap is not the whole story: pages V8 frees after a burst stay mapped in its page
// pool, outside total_heap_size (a real 10,000-node burst, with mounts and exports, ended at RSS
// ~250 MB for a 64 MB committed heap, measured), so RSS growth of 64 MiB or more triggers it too.
import v8 from 'node:v8';
import vm from 'node:vm';
import type { Logger } from 'pino';

type GcFn = (opts?: { type?: 'major' | 'minor'; execution?: 'sync' | 'async'; flavor?: 'regular' | 'last-resort' }) => void;

export interface HeapCompactorOptions {
  /** true while no provisioning work is queued or running */
  idle: () => boolean;
  log: Logger;
  /** how often idleness is checked; two idle checks in a row are needed (default 500 ms) */
  checkMs?: number;
  /** compact only when the committed heap grew at least this much since the last compaction (default 64 MiB) */
  minGrowthBytes?: number;
  /** ... or RSS grew at least this much (default 64 MiB) */
  minRssGrowthBytes?: number;
  /** jobs that must have run since the last compaction (default 256): only a burst triggers one */
  minJobs?: number;
  /** least time between two compactions (default 60 s) */
  minGapMs?: number;
  /** injected for tests: the collector and the heap figures */
  gc?: GcFn;
  heap?: () => { total: number; used: number; rss?: number };
}

export interface HeapCompactor {
  /** count one finished job */
  noteJob(): void;
  /** compactions run so far */
  runs(): number;
  stop(): void;
}

/** V8's collector, exposed to a fresh context only (the main global gets no `gc`). */
function loadGc(): GcFn | undefined {
  const g = (globalThis as { gc?: GcFn }).gc;
  if (typeof g === 'function') return g;
  try {
    v8.setFlagsFromString('--expose-gc');
    const f = vm.runInNewContext('gc') as unknown;
    return typeof f === 'function' ? (f as GcFn) : undefined;
  } catch {
    return undefined;
  }
}

const heapNow = () => {
  const h = v8.getHeapStatistics();
  return { total: h.total_heap_size, used: h.used_heap_size, rss: process.memoryUsage.rss() };
};

/** Start the idle checks (an unref'd timer: it never keeps the process alive). */
export function startHeapCompactor(o: HeapCompactorOptions): HeapCompactor {
  const gc = o.gc ?? loadGc();
  const heap = o.heap ?? heapNow;
  const minGrowth = o.minGrowthBytes ?? 64 * 1024 * 1024;
  const minRssGrowth = o.minRssGrowthBytes ?? 64 * 1024 * 1024;
  const start = heap();
  let floor = start.total;
  let rssFloor = start.rss;
  const minGap = o.minGapMs ?? 60_000;
  let idleTicks = 0;
  let last = -Infinity;
  let count = 0;
  let jobs = 0;
  const minJobs = o.minJobs ?? 256;
  if (!gc) o.log.debug('heap compaction unavailable (no gc function); V8 shrinks the heap on its own schedule');
  let seenJobs = 0;
  const timer = setInterval(() => {
    // idle: nothing queued or running, and no job started since the last check
    idleTicks = o.idle() && jobs === seenJobs ? idleTicks + 1 : 0;
    seenJobs = jobs;
    if (!gc || idleTicks < 2 || jobs < minJobs || performance.now() - last < minGap) return;
    const before = heap();
    const rssBefore = before.rss ?? process.memoryUsage.rss();
    const rssGrew = before.rss !== undefined && rssFloor !== undefined && before.rss - rssFloor >= minRssGrowth;
    if (before.total - floor < minGrowth && !rssGrew) return;
    const t0 = performance.now();
    gc({ type: 'major', flavor: 'last-resort' });
    last = performance.now();
    count++;
    jobs = 0;
    seenJobs = 0;
    const after = heap();
    floor = after.total;
    rssFloor = after.rss;
    const mb = (b: number) => Math.round(b / 1048576);
    o.log.info({ ms: Math.round(last - t0), heapMB: { before: mb(before.total), after: mb(after.total), used: mb(after.used) }, rssMB: { before: mb(rssBefore), after: mb(process.memoryUsage.rss()) } }, 'idle after a burst: heap compacted');
  }, o.checkMs ?? 500);
  timer.unref();
  return { noteJob: () => void jobs++, runs: () => count, stop: () => clearInterval(timer) };
}

/**
 * Cap V8's old-generation growth factor (default: up to 4x what survived the last full
 * collection on a machine with lots of memory). A real 10,000-node burst keeps ~45-55 MB alive
 * while it churns through ~2 GB of short-lived strings (mountinfo bytes, exports and etab text,
 * state.json pieces, status replies), so V8 let the heap reach ~170 MB between full collections
 * and RSS peaked at ~290 MB; with a 1.3x factor it collected more often and RSS peaked at ~170 MB
 * (measured). The flag is read after every full collection, so setting it at run time works.
 */
export function limitHeapGrowth(percent = 30): boolean {
  try {
    v8.setFlagsFromString(`--heap-growing-percent=${percent}`);
    return true;
  } catch {
    return false;
  }
}
