// Reads /proc/self/mountinfo once per batch of concurrent callers instead of once per node: in a
// boot storm hundreds of mounts finish within milliseconds of each other, and each re-read of a
// table with 1,000+ entries would cost more than the mount itself.
import { readFile } from 'node:fs/promises';
import { parseMountinfo, type MountEntry } from './mountinfo.ts';

/** A coalescing view of the mount table, limited to the managed directories. */
export interface MountTable {
  /**
   * A table read that STARTS after this call (so it reflects every mount that completed before
   * it); callers that arrive before that read starts share it.
   */
  snapshot(): Promise<Map<string, MountEntry>>;
  /** how many times the file was actually read (for tests and benchmarks) */
  reads(): number;
}

/** `under` is re-evaluated per read, so node dirs registered later are included. */
export function createMountTable(
  under: () => readonly string[],
  read: () => Promise<string> = () => readFile('/proc/self/mountinfo', 'utf8'),
): MountTable {
  let next: Promise<Map<string, MountEntry>> | undefined;
  let count = 0;
  return {
    snapshot() {
      if (next) return next;
      const p = new Promise<Map<string, MountEntry>>((resolve, reject) => {
        // start on the next turn so that callers in this burst join; once started, later
        // callers must get a fresh read, hence `next` is cleared before reading
        setImmediate(() => {
          next = undefined;
          count++;
          read().then((text) => resolve(parseMountinfo(text, under())), reject);
        });
      });
      next = p;
      return p;
    },
    reads: () => count,
  };
}
