// Follows a growing log file across rotation without losing lines: reads from an fd at an offset,
// compares inode and size with the path, and is driven by fs.watch on the directory plus a short
// poll. Rename rotation: the old fd is drained until it has been idle for `idleSwitchMs`, then the
// new file is read from 0. Copytruncate (or any rewrite under us): detected by size and by a
// comparison of the bytes at the file's start and just before our offset; the rest of a fresh copy
// ("<name>.1") is read first, then reading restarts at 0. A missing file is waited for.
// Chosen over @logdna/tail-file after the comparison in test/unit/watchers/logs/follower-compare.ts.
import { watch, type FSWatcher } from 'node:fs';
import { stat, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { openRegular, RefusedFileError } from '../../src/safe-open.ts';
import { findFreshCopies, readFileFrom } from './rotated-copies.ts';

/** What to follow and where its bytes go. */
export interface FollowerOptions {
  path: string;
  /** read the file from 0 at start (else from its current end) */
  fromStart: boolean;
  onData(chunk: Buffer): void;
  /** the stream restarts: 'rotated' (new file), 'truncated' (same file, from 0) */
  onReset(why: 'rotated' | 'truncated'): void;
  onError?(e: Error): void;
  /**
   * the path is not a regular file we may read (FIFO, device, foreign symlink: safe-open.ts): called
   * once per reason, then with undefined once a regular file is back. Nothing is read meanwhile.
   */
  onRefused?(reason: string | undefined, e?: RefusedFileError): void;
  pollMs?: number;
  idleSwitchMs?: number;
  chunkBytes?: number;
}

/** A running follower; stop() closes every fd and watch. */
export interface FileFollower {
  start(): Promise<void>;
  stop(): Promise<void>;
  /** run one read/stat pass now (tests, and callers that know the file changed) */
  poll(): Promise<void>;
}

/** bytes compared before our offset and at the file's start to notice a truncate-and-regrow */
const TAIL_CHECK = 256;
const HEAD_CHECK = 128;

/** Create a follower; nothing is opened until start(). */
export function createFileFollower(o: FollowerOptions): FileFollower {
  const pollMs = o.pollMs ?? 250;
  const idleSwitchMs = o.idleSwitchMs ?? 1000;
  const chunkBytes = o.chunkBytes ?? 256 * 1024;
  let fh: FileHandle | undefined;
  let ino = -1;
  let dev = -1;
  let pos = 0;
  let lastTail = Buffer.alloc(0); // the bytes just before `pos`, to notice a rewrite
  let head = Buffer.alloc(0); // the file's first bytes as we read them
  let lastData = 0;
  let stopped = true;
  let running: Promise<void> | undefined;
  let again = false;
  let timer: NodeJS.Timeout | undefined;
  let watcher: FSWatcher | undefined;
  let buf = Buffer.allocUnsafe(chunkBytes);
  let next: { fh: FileHandle; ino: number; dev: number } | undefined;
  /** rotated copies with an mtime up to this were read already, or predate us */
  let accountedMtime = 0;
  let afterTruncate = false;
  let refused: string | undefined;

  const fail = (e: unknown) => o.onError?.(e instanceof Error ? e : new Error(String(e)));

  async function openCurrent(fromEnd: boolean): Promise<boolean> {
    let h: FileHandle;
    let st;
    try {
      ({ fh: h, st } = await openRegular(o.path));
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return false;
      if (e instanceof RefusedFileError) {
        if (refused !== e.reason) (o.onRefused ? o.onRefused(e.reason, e) : fail(e));
        refused = e.reason;
        return false;
      }
      throw e;
    }
    if (refused !== undefined) o.onRefused?.(undefined);
    refused = undefined;
    fh = h;
    ino = st.ino;
    dev = st.dev;
    pos = fromEnd ? st.size : 0;
    lastTail = Buffer.alloc(0);
    head = Buffer.alloc(0);
    if (fromEnd && pos > 0) {
      const n = Math.min(TAIL_CHECK, pos);
      const t = Buffer.alloc(n);
      await h.read(t, 0, n, pos - n);
      lastTail = t;
      const hn = Math.min(HEAD_CHECK, pos);
      head = Buffer.alloc(hn);
      await h.read(head, 0, hn, 0);
    }
    lastData = Date.now();
    // reading from 0: a copytruncate before our first read leaves no trace in this fd, so the first
    // bytes we read are checked against fresh copies exactly as after a truncation we saw
    if (pos === 0) afterTruncate = true;
    return true;
  }

  /** read everything new from the current fd; true if anything was read */
  async function drain(): Promise<boolean> {
    if (!fh) return false;
    const st = await fh.stat();
    if (st.size < pos || !(await stillSameContent())) await restartTruncated();
    let got = false;
    for (;;) {
      if (stopped) return got;
      const { bytesRead } = await fh.read(buf, 0, buf.length, pos);
      if (bytesRead === 0) break;
      // truncated and regrown between our checks and this read? then these bytes may belong to the
      // new content: drop them, take the old content's rest from the copy, start over at 0
      if (pos > 0 && !(await headUnchanged())) {
        await restartTruncated();
        continue;
      }
      got = true;
      const chunk = Buffer.from(buf.subarray(0, bytesRead));
      if (afterTruncate && pos === 0) {
        // first bytes after a truncation: copies of eras we never saw (truncated again before we
        // got here) exist by now, and are told apart from ours by these bytes
        afterTruncate = false;
        head = Buffer.from(chunk.subarray(0, HEAD_CHECK));
        await catchUpCopies();
      }
      if (head.length < HEAD_CHECK && pos < HEAD_CHECK) {
        head = Buffer.concat([head.subarray(0, pos), chunk.subarray(0, HEAD_CHECK - pos)]);
      }
      pos += bytesRead;
      lastTail = chunk.length >= TAIL_CHECK ? Buffer.from(chunk.subarray(bytesRead - TAIL_CHECK)) : Buffer.concat([lastTail, chunk]).subarray(-TAIL_CHECK);
      o.onData(chunk);
      if (bytesRead < buf.length) break;
    }
    if (got) lastData = Date.now();
    return got;
  }

  async function restartTruncated(): Promise<void> {
    await recoverFromCopy();
    pos = 0;
    lastTail = Buffer.alloc(0);
    head = Buffer.alloc(0);
    afterTruncate = true;
    o.onReset('truncated');
  }

  async function headUnchanged(): Promise<boolean> {
    if (!fh || head.length === 0) return true;
    const t = Buffer.alloc(head.length);
    const { bytesRead } = await fh.read(t, 0, t.length, 0);
    return bytesRead === t.length && t.equals(head);
  }

  /**
   * copytruncate: lines written after our last read and before the truncate are only in the copy
   * (syslog.1, syslog-20261122). A sibling "<name>.*" or "<name>-*" that starts with the bytes our
   * file started with and is at least as long as our offset is that copy: read its rest before
   * starting over at 0. Copies made since the last one we accounted for that are not ours hold
   * content our fd never saw (several truncations while we were starved): read them whole, in
   * mtime order.
   */
  async function recoverFromCopy(): Promise<void> {
    const fresh = await findFreshCopies(o.path, accountedMtime, head, pos);
    const mine = head.length && pos > 0 ? fresh.filter((c) => c.ours).at(-1) : undefined;
    if (!mine) {
      accountedMtime = Math.max(accountedMtime, ...fresh.map((c) => c.mtimeMs));
      return;
    }
    // the rest of our own copy first: it completes the line we may have read half of, so a missed
    // copy is never spliced into the middle of a line
    await readFileFrom(mine.file, pos, buf, o.onData);
    for (const c of fresh) {
      if (c !== mine && !c.ours) await readFileFrom(c.file, 0, buf, o.onData);
      accountedMtime = Math.max(accountedMtime, c.mtimeMs);
    }
  }

  /** after a truncation: copies made since our last look that are not of our content are eras we missed */
  async function catchUpCopies(): Promise<void> {
    for (const c of await findFreshCopies(o.path, accountedMtime, head, pos)) {
      if (c.ours) continue;
      await readFileFrom(c.file, 0, buf, o.onData);
      accountedMtime = Math.max(accountedMtime, c.mtimeMs);
    }
  }

  /** the bytes we read before (file start, and just before `pos`) are still there */
  async function stillSameContent(): Promise<boolean> {
    if (!fh) return true;
    for (const [want, at] of [[head, 0], [lastTail, pos - lastTail.length]] as const) {
      if (want.length === 0 || at < 0) continue;
      const t = Buffer.alloc(want.length);
      const { bytesRead } = await fh.read(t, 0, t.length, at);
      if (bytesRead !== t.length || !t.equals(want)) return false;
    }
    return true;
  }

  async function pass(): Promise<void> {
    if (!fh) {
      // missing at start, or deleted/rotated and gone: whatever appears now is new, read it all
      if (next) {
        adopt(next);
        next = undefined;
      } else if (!(await openCurrent(false))) return;
    }
    // look for a replacement first: a file rotated in and out again while we drain would be missed
    let st;
    try {
      st = await stat(o.path);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      st = undefined;
    }
    const replaced = !st || st.ino !== ino || st.dev !== dev;
    // A new file is in place: open it now, so that even if it is rotated away again before we get to
    // it, we still hold it. Its data is read only once the old fd is done (line order is kept).
    if (st && replaced && (!next || next.ino !== st.ino || next.dev !== st.dev)) {
      // not a regular file (refused): the old fd is drained and closed, then openCurrent reports it
      const n = await openRegular(o.path).catch(() => undefined);
      if (n) {
        if (next) await swapTo(next); // rotated twice before the old fd went idle: finish the middle one
        next = { fh: n.fh, ino: n.st.ino, dev: n.st.dev };
      }
    }
    await drain();
    if (!replaced) return;
    // keep draining the old fd until the writer has let go of it
    if (Date.now() - lastData < idleSwitchMs) return;
    await drain();
    await fh!.close().catch(() => {});
    fh = undefined;
    o.onReset('rotated');
    if (next) {
      adopt(next);
      next = undefined;
      await drain();
    }
  }

  function adopt(n: { fh: FileHandle; ino: number; dev: number }): void {
    accountedMtime = Date.now(); // whatever was rotated away until now, we read from its fd
    afterTruncate = false;
    fh = n.fh;
    ino = n.ino;
    dev = n.dev;
    pos = 0;
    lastTail = Buffer.alloc(0);
    head = Buffer.alloc(0);
    lastData = Date.now();
  }

  /** finish the current fd and move to `n` (a file that itself was already rotated away) */
  async function swapTo(n: { fh: FileHandle; ino: number; dev: number }): Promise<void> {
    await drain();
    await fh?.close().catch(() => {});
    o.onReset('rotated');
    adopt(n);
    await drain();
  }

  function kick(): void {
    if (stopped) return;
    if (running) {
      again = true;
      return;
    }
    running = (async () => {
      do {
        again = false;
        try {
          await pass();
        } catch (e) {
          fail(e);
        }
      } while (again && !stopped);
    })().finally(() => {
      running = undefined;
    });
  }

  return {
    async start() {
      stopped = false;
      accountedMtime = Date.now();
      buf = Buffer.allocUnsafe(chunkBytes);
      await openCurrent(!o.fromStart).catch(fail);
      try {
        const base = path.basename(o.path);
        watcher = watch(path.dirname(o.path), { persistent: false }, (_ev, name) => {
          if (name === null || name === base || String(name).startsWith(base)) kick();
        });
        watcher.on('error', () => {
          watcher?.close();
          watcher = undefined; // the poll keeps going
        });
      } catch {
        watcher = undefined; // directory missing: poll only
      }
      timer = setInterval(kick, pollMs);
      timer.unref();
      kick();
    },
    async stop() {
      stopped = true;
      if (timer) clearInterval(timer);
      watcher?.close();
      watcher = undefined;
      await running;
      await fh?.close().catch(() => {});
      await next?.fh.close().catch(() => {});
      fh = undefined;
      next = undefined;
    },
    async poll() {
      kick();
      while (running) await running;
    },
  };
}
