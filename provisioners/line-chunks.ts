// Reads a file as pieces of whole lines through one small buffer that is kept between reads.
// For files that every export batch reads whole but only needs a few lines of (etab, megabytes at
// thousands of exports): reading them into one fresh buffer, or one string, per batch would make
// megabytes of garbage per batch, which is what a storm's peak RSS is made of.
import { closeSync, openSync, readSync } from 'node:fs';

/**
 * A reader of `file` that hands `each` pieces of complete lines (each piece ends in a newline,
 * except a last line without one), in file order. The piece is a view of the reader's buffer,
 * valid only during the call. The buffer (64 KB by default) grows only for a line longer than it.
 * Synchronous: one read per piece, no thread-pool round trips. Throws what open/read throw.
 */
export function createLineChunkReader(file: string, size = 64 * 1024): (each: (piece: Buffer) => void) => void {
  let buf = Buffer.allocUnsafeSlow(size);
  return (each) => {
    const fd = openSync(file, 'r');
    try {
      let have = 0;
      for (;;) {
        if (have === buf.length) {
          const bigger = Buffer.allocUnsafeSlow(buf.length * 2);
          buf.copy(bigger, 0, 0, have);
          buf = bigger;
        }
        const got = readSync(fd, buf, have, buf.length - have, null);
        if (got === 0) {
          if (have) each(buf.subarray(0, have));
          return;
        }
        const end = have + got;
        const last = buf.lastIndexOf(0x0a, end - 1);
        if (last < have) {
          have = end; // no newline in what was just read: the line continues
          continue;
        }
        each(buf.subarray(0, last + 1));
        buf.copy(buf, 0, last + 1, end);
        have = end - last - 1;
      }
    } finally {
      closeSync(fd);
    }
  };
}
