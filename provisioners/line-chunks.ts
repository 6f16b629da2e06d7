// Reads a file as pieces of whole lines through one small buffer that is kept between reads.
// For files that every export batch reads whole but only needs a few lines of (etab, megabytes at
// thousands of exports): reading them into one fresh buffer, or one string, per batch would make
// megabytes of garbage per batch, which is what a storm's peak RSS is made of.
// Only a regular file is read (src/safe-open.ts): a FIFO or device there is refused at once instead of
// blocking the main thread, and a line longer than maxLineBytes (a broken disk) is refused instead of
// growing the buffer without end.
import { closeSync, readSync } from 'node:fs';
import { READ_LIMITS, openRegularSync, RefusedFileError, formatBytes } from '../src/safe-open.ts';

/**
 * A reader of `file` that hands `each` pieces of complete lines (each piece ends in a newline,
 * except a last line without one), in file order. The piece is a view of the reader's buffer,
 * valid only during the call. The buffer (64 KB by default) grows only for a line longer than it.
 * Synchronous: one read per piece, no thread-pool round trips. Throws what open/read throw, and
 * RefusedFileError for anything but a regular file or for a line longer than `maxLineBytes`.
 */
export function createLineChunkReader(file: string, size = 64 * 1024, maxLineBytes: number = READ_LIMITS.tableLineBytes): (each: (piece: Buffer) => void) => void {
  let buf = Buffer.allocUnsafeSlow(size);
  return (each) => {
    const { fd } = openRegularSync(file);
    try {
      let have = 0;
      for (;;) {
        if (have === buf.length) {
          if (have >= maxLineBytes) throw new RefusedFileError(file, `has a line longer than ${formatBytes(maxLineBytes)}, the limit for a line of a table`);
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
