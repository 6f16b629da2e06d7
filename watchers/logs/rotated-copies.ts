// The copies logrotate leaves next to a log (syslog.1, syslog-20261122): after a copytruncate the
// lines we had not read yet are only there. Used by the file follower to recover them.
import { readdir, stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { openRegular } from '../../src/safe-open.ts';

/** a rotated copy older than this is not one just made by copytruncate */
const COPY_MAX_AGE_MS = 10 * 60_000;

/** A rotated sibling of the log that may hold lines we have not read. */
export interface RotatedCopy {
  file: string;
  mtimeMs: number;
  /** starts with `head` and is at least `pos` long: a copy of the content we were reading */
  ours: boolean;
}

/** Copies of `logPath` modified after `sinceMs` (and recently), oldest first. */
export async function findFreshCopies(logPath: string, sinceMs: number, head: Buffer, pos: number): Promise<RotatedCopy[]> {
  const dir = path.dirname(logPath);
  const base = path.basename(logPath);
  let names: string[];
  try {
    // logrotate names: syslog.1, or with dateext syslog-20261122; compressed ones are not copies
    names = (await readdir(dir)).filter((n) => n.length > base.length && n.startsWith(base) && '.-'.includes(n[base.length]!) && !/\.(gz|xz|bz2|zst)$/.test(n));
  } catch {
    return [];
  }
  const out: RotatedCopy[] = [];
  for (const n of names) {
    const file = path.join(dir, n);
    try {
      const st = await stat(file);
      if (!st.isFile() || st.mtimeMs <= sinceMs || Date.now() - st.mtimeMs > COPY_MAX_AGE_MS) continue;
      out.push({ file, mtimeMs: st.mtimeMs, ours: head.length > 0 && st.size >= pos && (await startsWith(file, head)) });
    } catch {
      /* vanished */
    }
  }
  return out.sort((a, b) => a.mtimeMs - b.mtimeMs);
}

// a copy that is not a regular file, or a symlink the rule refuses, throws here and is skipped
async function startsWith(file: string, want: Buffer): Promise<boolean> {
  const { fh: h } = await openRegular(file);
  try {
    const t = Buffer.alloc(want.length);
    const { bytesRead } = await h.read(t, 0, t.length, 0);
    return bytesRead === t.length && t.equals(want);
  } finally {
    await h.close().catch(() => {});
  }
}

/** Deliver `file` from byte `from` to its end through `onData`, using `buf` for reads. */
export async function readFileFrom(file: string, from: number, buf: Buffer, onData: (b: Buffer) => void): Promise<void> {
  let h: FileHandle | undefined;
  try {
    h = (await openRegular(file)).fh;
    let at = from;
    for (;;) {
      const { bytesRead } = await h.read(buf, 0, buf.length, at);
      if (bytesRead === 0) break;
      at += bytesRead;
      onData(Buffer.from(buf.subarray(0, bytesRead)));
    }
  } catch {
    /* vanished or refused (safe-open.ts): nothing more to recover */
  } finally {
    await h?.close().catch(() => {});
  }
}
