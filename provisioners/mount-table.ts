// Reads /proc/self/mountinfo once per batch of concurrent callers instead of once per node: in a
// boot storm hundreds of mounts finish within milliseconds of each other, and each re-read of a
// table with 1,000+ entries would cost more than the mount itself (3-4 ms to parse 1,000 overlays,
// measured). While other mounts are still running (`busy`), a read waits for them, up to
// `maxDelayMs`, so that one read verifies many; a lone mount is read at once.
import { readFileSync } from 'node:fs';
import { parseMountinfo, type MountEntry } from './mountinfo.ts';

/**
 * parseMountinfo with the previous read's lines remembered: between two reads in a storm only a
 * few of 1,000+ lines change, and a lookup of an unchanged line is ~4x cheaper than parsing it.
 */
function createCachedParser(): (text: string, under: readonly string[]) => Map<string, MountEntry> {
  let key: string | undefined;
  let cache = new Map<string, MountEntry | null>();
  return (text, under) => {
    const k = under.join('\0');
    if (k !== key) {
      key = k;
      cache = new Map(); // entries were filtered by the old list
    }
    const seen = new Map<string, MountEntry | null>();
    const out = new Map<string, MountEntry>();
    let start = 0;
    while (start < text.length) {
      let end = text.indexOf('\n', start);
      if (end < 0) end = text.length;
      const line = text.slice(start, end);
      start = end + 1;
      let e = cache.get(line);
      if (e === undefined) e = parseMountinfo(line, under).values().next().value ?? null;
      seen.set(line, e);
      if (e) out.set(e.mountPoint, e); // later lines win, as in parseMountinfo (topmost mount)
    }
    cache = seen;
    return out;
  };
}

/** A coalescing view of the mount table, limited to the managed directories. */
export interface MountTable {
  /**
   * A table read that STARTS after this call (so it reflects every mount that completed before
   * it); callers that arrive before that read starts share it.
   */
  snapshot(): Promise<Map<string, MountEntry>>;
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

/** `under` is re-evaluated per read, so node dirs registered later are included. */
export function createMountTable(
  under: () => readonly string[],
  // procfs: a sync read is one syscall loop instead of several thread-pool round trips (measured faster)
  read: () => Promise<string> = async () => readFileSync('/proc/self/mountinfo', 'utf8'),
  opts: MountTableOptions = {},
): MountTable {
  const busy = opts.busy ?? (() => false);
  const maxDelayMs = opts.maxDelayMs ?? 50;
  let next: Promise<Map<string, MountEntry>> | undefined;
  let startNow: (() => void) | undefined;
  let count = 0;
  const parse = createCachedParser();
  return {
    snapshot() {
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
          count++;
          read().then((text) => resolve(parse(text, under())), reject);
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
