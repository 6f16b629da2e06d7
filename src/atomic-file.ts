// Every file pxebootd writes goes through here: a temp file in the same directory, fsync, rename,
// then fsync of the directory. A reader sees the old file or the new one, never a partial one,
// and a failed write (full disk) leaves the old file intact.
import { open, rename, unlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';

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
  const tmp = path.join(dir, `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
  const fh = await open(tmp, 'wx', opts.mode ?? 0o644);
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
