// Reads /proc/self/mountinfo once per batch of concurrent callers instead of once per node: in a
// boot storm hundreds of mounts finish within milliseconds of each other. While other mounts are
// still running (`busy`), a read waits for them, up to `maxDelayMs`, so that one read verifies
// many; a lone mount is read at once. Callers name the mount points they need and a read unpacks
// only those lines (see scanMountinfo): at 10,000 overlays the file is ~4 MB, and turning all of it
// into strings and entries on every read is what grew pxebootd's heap by ~300 MB in a real burst.
// Where the kernel can say what is mounted at one path (statmount(2), see mount-lookup.ts), a
// snapshot of named points asks about each of them instead, at a cost that does not grow with the
// number of mounts; the whole table is read only to list every mount (orphans) or as a fallback.
import path from 'node:path';
import { createLineChunkReader } from './line-chunks.ts';
import type { MountLookup } from './mount-lookup.ts';
import { scanMountinfo, type MountEntry } from './mountinfo.ts';
import { MOUNT_CHECK_MAX_DELAY_MS } from '../src/timing.ts';
import { isNormalAbsolute } from '../src/validate.ts';

/** A coalescing view of the mount table, limited to the managed directories. */
export interface MountTable {
  /**
   * A table read that STARTS after this call (so it reflects every mount that completed before
   * it); callers that arrive before that read starts share it. With `points`, the result holds
   * (at least) those of them that are mounted; without, every mount under the managed dirs.
   */
  snapshot(points?: readonly string[]): Promise<Map<string, MountEntry>>;
  /** how many times the file was actually read (for tests and benchmarks) */
  reads(): number;
  /** how many mount points were looked up one by one (statmount) instead */
  lookups(): number;
  /** a mount or umount finished: a read waiting for the others may start now */
  nudge(): void;
}

/** When a read may wait for mounts still in flight. */
export interface MountTableOptions {
  /** true while other mount/umount processes run or wait */
  busy?: () => boolean;
  /** longest wait for them (default 50 ms) */
  maxDelayMs?: number;
  /**
   * Look named points up one by one (see the top comment). A lookup that throws makes that
   * snapshot a file read; one that says the kernel cannot (ENOSYS, EPERM) ends the lookups, and
   * `onFallback` is told why, once.
   */
  lookup?: MountLookup;
  onFallback?: (why: string) => void;
}

/**
 * `under` is re-evaluated per read, so node dirs registered later are included. `read` replaces
 * /proc/self/mountinfo (unit tests); by default the file is read in 64 KB pieces of whole lines
 * through one small buffer (at 10,000 overlays it is ~4 MB: a buffer for all of it would stay
 * that big), synchronously (one syscall per piece instead of thread-pool round trips, measured
 * faster), and only the lines a read needs are decoded.
 */
export function createMountTable(under: () => readonly string[], read?: () => Promise<string | Uint8Array>, opts: MountTableOptions = {}): MountTable {
  const busy = opts.busy ?? (() => false);
  const maxDelayMs = opts.maxDelayMs ?? MOUNT_CHECK_MAX_DELAY_MS;
  const pieces = read ? undefined : createLineChunkReader('/proc/self/mountinfo');
  let next: Promise<Map<string, MountEntry>> | undefined;
  /** what the read being collected must unpack: these points, or everything under `under` */
  let wanted: Set<string> | 'all' = new Set();
  let startNow: (() => void) | undefined;
  let count = 0;
  let lookups = 0;
  let lookup = opts.lookup;
  /** the points' entries, one kernel question each; undefined when a file read must answer instead */
  const lookUp = (points: readonly string[]): Map<string, MountEntry> | undefined => {
    if (!lookup) return undefined;
    const out = new Map<string, MountEntry>();
    try {
      for (const p of points) {
        const mp = isNormalAbsolute(p) ? p : path.resolve(p);
        const e = lookup(mp);
        lookups++;
        if (e) out.set(mp, e);
      }
      return out;
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'ENOSYS' || code === 'EPERM') {
        lookup = undefined;
        opts.onFallback?.(`${(e as Error).message}; reading /proc/self/mountinfo from now on`);
      }
      return undefined;
    }
  };
  const keeper = (want: Set<string> | 'all'): ((mountPoint: string) => boolean) => {
    if (want !== 'all') return (mp) => want.has(mp);
    const prefixes = under().map((d) => path.resolve(d));
    return (mp) => prefixes.some((d) => mp === d || mp.startsWith(d === '/' ? d : d + '/'));
  };
  const readTable = async (want: Set<string> | 'all'): Promise<Map<string, MountEntry>> => {
    const keep = keeper(want);
    if (!pieces) {
      const data = await read!();
      return scanMountinfo(typeof data === 'string' ? Buffer.from(data) : data, keep);
    }
    const out = new Map<string, MountEntry>();
    pieces((piece) => {
      for (const [mp, e] of scanMountinfo(piece, keep)) out.set(mp, e); // topmost (later line) wins
    });
    return out;
  };
  return {
    snapshot(points) {
      const looked = points === undefined ? undefined : lookUp(points);
      if (looked) return Promise.resolve(looked);
      if (points === undefined) wanted = 'all';
      else if (wanted !== 'all') for (const p of points) wanted.add(path.resolve(p));
      if (next) return next;
      const p = new Promise<Map<string, MountEntry>>((resolve, reject) => {
        let started = false;
        let timer: NodeJS.Timeout | undefined;
        const start = () => {
          if (started) return;
          started = true;
          if (timer) clearTimeout(timer);
          startNow = undefined;
          // once started, later callers must get a fresh read, hence `next` is cleared before reading
          next = undefined;
          const want = wanted;
          wanted = new Set();
          count++;
          readTable(want).then(resolve, reject);
        };
        // start on the next turn so that callers in this burst join; later if other mounts are running
        setImmediate(() => {
          if (!busy()) return start();
          startNow = start;
          timer = setTimeout(start, maxDelayMs);
        });
      });
      next = p;
      return p;
    },
    reads: () => count,
    lookups: () => lookups,
    nudge() {
      if (startNow && !busy()) startNow();
    },
  };
}
