// An append-only journal on disk: fsids.log (format: fsid-log.ts) and state.log (record-log.ts). One
// descriptor kept open for appending, each append its write()s and one fdatasync(), so a change is
// durable at a cost that does not grow with the node count. fsids.json and state.json stay the
// snapshots; the store folds each journal into its snapshot at start-up, at a clean stop and when
// the journal outgrows a bound, then empties (or, for state.log, rotates) the journal.
import { open, type FileHandle } from 'node:fs/promises';
import { PxeError } from '../errors.ts';
import { constants, fstatSync, writeSync } from 'node:fs';
import path from 'node:path';

/** The open journal. */
export interface FsidJournal {
  readonly file: string;
  /** append whole lines (a string, or pieces made as they are written) and make them durable; on failure the file is cut back to its last good size */
  append(text: string | AsyncIterable<string>): Promise<void>;
  /** bytes in the journal */
  size(): number;
  /** empty it (only once fsids.json holds everything it held), durably */
  clear(): Promise<void>;
  close(): Promise<void>;
}

/**
 * The journal's bytes, or none when it does not exist. Only a regular file is read: a FIFO would
 * block the read, and a symlink or a directory is nothing pxebootd made; each stops start-up naming it.
 */
export async function readFsidJournal(file: string): Promise<Buffer | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(file, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'ELOOP') throw new PxeError('STATE', `${file}: expected a regular file, found a symbolic link; move it away (pxebootd never follows one)`);
    throw new PxeError('STATE', `${file}: cannot open: ${(e as Error).message}`);
  }
  try {
    const st = await fh.stat();
    if (!st.isFile()) throw new PxeError('STATE', `${file}: expected a regular file, found ${st.isDirectory() ? 'a directory' : st.isFIFO() ? 'a FIFO' : 'a special file'}; move it away`);
    return await fh.readFile();
  } finally {
    await fh.close();
  }
}

/** fsync a directory, so that a file created, renamed or removed in it stays so after a power loss. */
export async function syncDir(dir: string): Promise<void> {
  const d = await open(dir, 'r');
  try {
    await d.sync();
  } finally {
    await d.close();
  }
}

/**
 * Open (creating) `file` for appending, cut to `keep` bytes: 0 once the caller has folded what it
 * held into fsids.json, else the length of its whole lines (a torn last line must not stay before
 * the next append). The directory is synced so that the file's creation is durable.
 */
export async function openFsidJournal(file: string, keep = 0): Promise<FsidJournal> {
  const fh: FileHandle = await open(file, constants.O_WRONLY | constants.O_CREAT | constants.O_APPEND | constants.O_NOFOLLOW, 0o600);
  let size = keep;
  try {
    await fh.chmod(0o600);
    await fh.truncate(keep);
    await fh.sync();
    await syncDir(path.dirname(file));
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
  return {
    file,
    async append(text) {
      // the size and the writes are synchronous calls (a few microseconds for a few hundred lines):
      // the fdatasync is the append's one thread-pool round trip, on a new node's path to its export.
      // Where this append starts: the file's real end, whoever else appended
      const start = fstatSync(fh.fd).size;
      let end = start;
      try {
        for await (const piece of typeof text === 'string' ? [text] : text) {
          const buf = Buffer.from(piece, 'utf8');
          for (let off = 0; off < buf.length; ) off += writeSync(fh.fd, buf, off, buf.length - off);
          end += buf.length;
        }
        await fh.datasync();
        size = end;
      } catch (e) {
        // a part-written line must not stay before the lines a retry appends (full disk)
        await fh.truncate(start).catch(() => {});
        throw e;
      }
    },
    size: () => size,
    async clear() {
      await fh.truncate(0);
      await fh.datasync();
      size = 0;
    },
    close: () => fh.close(),
  };
}
