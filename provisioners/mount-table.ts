// Reads /proc/self/mountinfo once per batch of concurrent callers instead of once per node: in a
// boot storm hundreds of mounts finish within milliseconds of each other. While other mounts are
// still running (`busy`), a read waits for them, up to `maxDelayMs`, so that one read verifies
// many; a lone mount is read at once. Callers name the mount points they need and a read unpacks
// only those lines (see scanMountinfo): at 10,000 overlays the file is ~4 MB, and turning all of it
// into strings and entries on every read is what grew pxebootd's heap by ~300 MB in a real burst.
import { closeSync, openSync, readSync } from 'node:fs';
import path from 'node:path';
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
 * Reads a procfs file into one buffer kept between reads (grown by doubling, never shrunk: ~4 MB
 * at 10,000 overlays). readFileSync would allocate 64 KB pieces plus their concatenation on every
 * read of a size-0 procfs file. The bytes returned are valid until the next call, which is why
 * the table parses them before anything else can start a read.
 */
export function createProcReader(file: string): () => Promise<Uint8Array> {
  let buf = Buffer.allocUnsafeSlow(64 * 1024);
  return async () => {
    const fd = openSync(file, 'r');
    try {
      let n = 0;
      for (;;) {
        if (n === buf.length) {
          const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
          buf.copy(bigger, 0, 0, n);
          buf = bigger;
        }
        const got = readSync(fd, buf, n, buf.length - n, null);
        if (got === 0) return buf.subarray(0, n);
        n += got;
      }
    } finally {
      closeSync(fd);
    }
  };
}

/** `under` is re-evaluated per read, so node dirs registered later are included. */
export function createMountTable(
  under: () => readonly string[],
  // procfs: a sync read is one syscall loop instead of several thread-pool round trips (measured
  // faster); bytes, not a string: only the lines a read needs are decoded
  read: () => Promise<string | Uint8Array> = createProcReader('/proc/self/mountinfo'),
  opts: MountTableOptions = {},
): MountTable {
  const busy = opts.busy ?? (() => false);
  const maxDelayMs = opts.maxDelayMs ?? 50;
  let next: Promise<Map<string, MountEntry>> | undefined;
  /** what the read being collected must unpack: these points, or everything under `under` */
  let wanted: Set<string> | 'all' = new Set();
  let startNow: (() => void) | undefined;
  let count = 0;
  const parse = (data: string | Uint8Array, want: Set<string> | 'all'): Map<string, MountEntry> => {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    if (want !== 'all') return scanMountinfo(bytes, (mp) => want.has(mp));
    const prefixes = under().map((d) => path.resolve(d));
    return scanMountinfo(bytes, (mp) => prefixes.some((d) => mp === d || mp.startsWith(d === '/' ? d : d + '/')));
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
          // parsed in the read's own continuation: the reader's buffer is reused by the next read
          read().then((data) => resolve(parse(data, want)), reject);
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
