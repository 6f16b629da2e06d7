// Reads /proc/self/mountinfo once per batch of concurrent callers instead of once per node: in a
// boot storm hundreds of mounts finish within milliseconds of each other. While other mounts are
// still running (`busy`), a read waits for them, up to `maxDelayMs`, so that one read verifies
// many; a lone mount is read at once. Callers name the mount points they need and a read unpacks
// only those lines (see scanMountinfo): at 10,000 overlays the file is ~4 MB, and turning all of it
// into strings and entries on every read is what grew pxebootd's heap by ~300 MB in a real burst.
import path from 'node:path';
import { createLineChunkReader } from './line-chunks.ts';
import { scanMountinfo, type MountEntry } from './mountinfo.ts';

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
  /** a mount or umount finished: a read waiting for the others may start now */
  nudge(): void;
}

/** When a read may wait for mounts still in flight. */
export interface MountTableOptions {
  /** true while other mount/umount processes run or wait */
  busy?: () => boolean;
  /** longest wait for them (default 50 ms) */
  maxDelayMs?: number;
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
  const maxDelayMs = opts.maxDelayMs ?? 50;
  const pieces = read ? undefined : createLineChunkReader('/proc/self/mountinfo');
  let next: Promise<Map<string, MountEntry>> | undefined;
  /** what the read being collected must unpack: these points, or everything under `under` */
  let wanted: Set<string> | 'all' = new Set();
  let startNow: (() => void) | undefined;
  let count = 0;
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
    nudge() {
      if (startNow && !busy()) startNow();
    },
  };
}
