// Every file pxebootd writes goes through here: a temp file in the same directory, fsync, rename,
// then fsync of the directory. A reader sees the old file or the new one, never a partial one,
// and a failed write (full disk) leaves the old file intact.
import { closeSync, fsyncSync, fchmodSync, mkdirSync, openSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { open, rename, unlink, mkdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

/** Temp names differ by a per-process sequence from a random start, not by fresh random bytes per file. */
let seq = randomBytes(4).readUInt32BE(0);

/**
 * A temp name beside `file`: `.<name>.<pid>.<8 hex digits>.<ext>` (the form stale-temp.ts sweeps).
 * Its safety is the exclusive create (O_EXCL, or symlink(2)'s EEXIST), not its randomness.
 */
export function tempNameFor(file: string, ext: 'tmp' | 'lnk'): string {
  return path.join(path.dirname(file), tempBaseName(path.basename(file), ext));
}

/** tempNameFor's base name for a file named `name` (one path component): no path to split or join. */
export function tempBaseName(name: string, ext: 'tmp' | 'lnk'): string {
  seq = (seq + 1) >>> 0;
  return `.${name}.${process.pid}.${seq.toString(16).padStart(8, '0')}.${ext}`;
}

/** Temp names tried before an exclusive create's EEXIST is given up on (someone planted files at them). */
export const TEMP_TRIES = 4;

export interface AtomicWriteOptions {
  mode?: number;
  /** skip the fsyncs (only for files that are cheap to regenerate, such as boot files) */
  noSync?: boolean;
  /** create the parent directory (mode 0755) when missing */
  mkdirp?: boolean;
}

/** `data` may be a sequence of pieces: they are written one after the other, never joined in memory. */
export async function writeFileAtomic(file: string, data: string | Uint8Array | Iterable<string> | AsyncIterable<string>, opts: AtomicWriteOptions = {}): Promise<void> {
  const dir = path.dirname(file);
  if (opts.mkdirp) await mkdir(dir, { recursive: true, mode: 0o755 });
  let tmp = '';
  let fh: FileHandle | undefined;
  for (let i = 1; fh === undefined; i++) {
    tmp = tempNameFor(file, 'tmp');
    try {
      fh = await open(tmp, 'wx', opts.mode ?? 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i >= TEMP_TRIES) throw e;
    }
  }
  try {
    await fh.writeFile(data);
    if (opts.mode !== undefined) await fh.chmod(opts.mode);
    if (!opts.noSync) await fh.sync();
  } catch (e) {
    await fh.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw e;
  }
  await fh.close();
  try {
    await rename(tmp, file);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  if (!opts.noSync) {
    const d = await open(dir, 'r');
    try {
      await d.sync();
    } finally {
      await d.close();
    }
  }
}

/**
 * writeFileAtomic done with synchronous calls, for small files written on the hot path (boot files
 * in a storm, our exports file and etab on a lone lease's path): a handful of syscalls of a few
 * microseconds each cost less than the thread-pool round trips of the async calls. Same steps:
 * (mkdir), exclusive temp file, write (piece by piece), chmod, (fsync), rename, (fsync dir).
 */
export function writeFileAtomicSync(file: string, data: string | Uint8Array | Iterable<string | Uint8Array>, opts: AtomicWriteOptions = {}): void {
  if (opts.mkdirp) mkdirSync(path.dirname(file), { recursive: true, mode: 0o755 });
  let tmp = '';
  let fd: number | undefined;
  for (let i = 1; fd === undefined; i++) {
    tmp = tempNameFor(file, 'tmp');
    try {
      fd = openSync(tmp, 'wx', opts.mode ?? 0o644);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || i >= TEMP_TRIES) throw e;
    }
  }
  try {
    if (typeof data === 'string' || data instanceof Uint8Array) writeFileSync(fd, data);
    else for (const piece of data) writeFileSync(fd, piece);
    if (opts.mode !== undefined) fchmodSync(fd, opts.mode);
    if (!opts.noSync) fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  closeSync(fd);
  try {
    renameSync(tmp, file);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      /* already gone */
    }
    throw e;
  }
  if (!opts.noSync) {
    const d = openSync(path.dirname(file), 'r');
    try {
      fsyncSync(d);
    } finally {
      closeSync(d);
    }
  }
}
