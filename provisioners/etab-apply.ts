// The I/O half of editing etab for a few nodes the way exportfs does, without re-reading and
// re-evaluating every export on the server: under exportfs's own locks (export-lock for the whole
// read-modify-write, .etab.lock around etab itself), read etab, replace or drop only our nodes'
// lines (editEtab), write a temp file and rename it (mountd re-reads etab when its inode changes),
// then flush the kernel's export caches as exportfs does. See the kernel backend's `apply`.
// The steps are synchronous calls: about twenty small syscalls (a few microseconds each, etab is a
// read and a write of its size) that would otherwise be as many thread-pool round trips in a row
// on a lone lease's path, each waiting for a pool thread and for the main thread's next turn. Only
// waiting for a lock that exportfs holds yields (timers).
import { closeSync, constants, openSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { Logger } from 'pino';
import { writeFileAtomicSync } from '../src/atomic-file.ts';
import { loadAddon } from '../src/native.ts';
import { READ_LIMITS, readRegularIfPresentSync } from '../src/safe-open.ts';
import { editEtab } from './exports-kernel.ts';
import { removeStaleTemps } from './stale-temp.ts';

interface FcntlLock {
  tryLock(fd: number, exclusive: boolean): boolean;
  unlock(fd: number): void;
  holder(fd: number): number;
}

/** Where exportfs and the kernel keep what this module touches (tests point them elsewhere). */
export interface EtabPaths {
  etab: string;
  /** exportfs's whole-run lock (nfs-utils 2.x: <state dir>/export-lock) */
  exportLock: string;
  /** the lock around etab itself (nfs-utils 2.x: <state dir>/.etab.lock) */
  etabLock: string;
  /** /proc/net/rpc: cache flush files and the export test channels (absent without nfsd) */
  procRpc: string;
}

/** exportfs's lock files next to `etab`, and the kernel's /proc/net/rpc. */
export function etabPaths(etab: string): EtabPaths {
  const dir = path.dirname(etab);
  return { etab, exportLock: path.join(dir, 'export-lock'), etabLock: path.join(dir, `.${path.basename(etab)}.lock`), procRpc: '/proc/net/rpc' };
}

/** etab's bytes, or none when it does not exist yet. A FIFO or device there is refused, not waited on: this read is on the main thread. */
function readEtabBytes(etab: string): Buffer {
  return readRegularIfPresentSync(etab, READ_LIMITS.tableBytes, 'the NFS export table') ?? Buffer.alloc(0);
}

/** The caches exportfs flushes after writing etab, in its order (dependents first). */
const FLUSH = ['auth.unix.ip', 'auth.unix.gid', 'nfsd.fh', 'nfsd.export'];
/** NFSEXP_FSID in the kernel's export flags: what exportfs's trial export sets for an fsid= export. */
const NFSEXP_FSID = 0x2000;

export interface EtabEditor {
  /**
   * Drop the lines for `drop` (path + client), put `put` lines in place or at the end. A put path
   * that exportfs would refuse (not a directory; with nfsd loaded, its trial export fails) is left
   * out and returned with the reason.
   */
  apply(drop: Array<{ path: string; ip: string }>, put: Array<{ path: string; ip: string; line: string }>): Promise<Map<string, Error>>;
}

/** An editor, or why this machine cannot have one (the caller then runs `exportfs -r`). */
export function createEtabEditor(paths: EtabPaths, log: Logger, opts: { lockWaitMs?: number } = {}): EtabEditor | { why: string } {
  const addon = loadAddon<FcntlLock>('fcntllock', 'fcntl lock');
  if (!('mod' in addon)) return { why: addon.why };
  const locks = addon.mod;
  const lockWaitMs = opts.lockWaitMs ?? 30_000;
  let swept = false;

  /** Open `file` (created as exportfs would) and hold a whole-file write lock on it; returns the descriptor. */
  async function lock(file: string, mode: number): Promise<number> {
    const fd = openSync(file, constants.O_RDWR | constants.O_CREAT, mode);
    try {
      const until = performance.now() + lockWaitMs;
      let pause = 1;
      while (!locks.tryLock(fd, true)) {
        if (performance.now() > until) {
          const pid = locks.holder(fd);
          throw new Error(`${file} is still locked after ${lockWaitMs} ms${pid > 0 ? ` by PID ${pid}` : ''} (an exportfs that does not finish?); not editing ${paths.etab}`);
        }
        await new Promise((r) => setTimeout(r, pause));
        pause = Math.min(20, pause * 2);
      }
      return fd;
    } catch (e) {
      closeSync(fd);
      throw e;
    }
  }

  /** exportfs's validate_export for one path: a directory, and (with nfsd) a trial export that works. */
  function validate(p: string): Error | undefined {
    let st;
    try {
      st = statSync(p);
    } catch (e) {
      return new Error(`Failed to stat ${p}: ${(e as Error).message}`);
    }
    if (!st.isDirectory()) return new Error(`${p} is not a directory. Remote access will fail`);
    const ip = path.join(paths.procRpc, 'auth.unix.ip/channel');
    const ex = path.join(paths.procRpc, 'nfsd.export/channel');
    try {
      // can_test(): a far-future test client in the ip map, then a trial export of the path to it
      const expiry = Date.now() / 1000 > 2 ** 31 - 1 - 86_400 ? '9223372036854775807' : String(2 ** 31 - 1);
      writeFileSync(ip, `nfsd 0.0.0.0 ${expiry} -test-client-\n`, { flag: 'r+' });
    } catch {
      return undefined; // no nfsd here: exportfs does no trial export either
    }
    try {
      writeFileSync(ex, `-test-client- ${p} 3 ${NFSEXP_FSID} 65534 65534 0\n`, { flag: 'r+' });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      return new Error(`${p} does not support NFS export (${(e as Error).message})`);
    }
    return undefined;
  }

  /** cache_flush(): "flush everything older than the next second" to each cache present. */
  function flushCaches(): void {
    const stamp = `${Math.floor(Date.now() / 1000) + 1}\n`;
    for (const c of FLUSH) {
      const f = path.join(paths.procRpc, c, 'flush');
      try {
        writeFileSync(f, stamp, { flag: 'r+' });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code !== 'ENOENT') log.warn({ file: f, err: err.message }, `could not flush the kernel's ${c} cache after editing ${paths.etab}`);
      }
    }
  }

  return {
    async apply(drop, put) {
      const refused = new Map<string, Error>();
      for (const p of put) {
        const err = validate(p.path);
        if (err) refused.set(p.path, err);
      }
      const puts = put.filter((p) => !refused.has(p.path));
      const whole = await lock(paths.exportLock, 0o644);
      try {
        if (!swept) {
          swept = true;
          const stale = await removeStaleTemps(path.dirname(paths.etab), path.basename(paths.etab));
          if (stale.length) log.info({ files: stale }, `removed ${stale.length} temp file(s) of ${paths.etab} left by a killed pxebootd`);
        }
        const tab = await lock(paths.etabLock, 0o600);
        try {
          const before = readEtabBytes(paths.etab);
          const after = editEtab(before, drop, puts);
          // as exportfs's cond_rename: an unchanged etab keeps its inode, so mountd does not re-read it.
          // No fsync: exportfs rewrites etab from the exports files at every boot, and mountd only reads it
          if (after.changed) writeFileAtomicSync(paths.etab, after.pieces, { mode: 0o644, noSync: true });
        } finally {
          closeSync(tab); // closing the last fd of an OFD lock releases it
        }
        flushCaches();
      } finally {
        closeSync(whole);
      }
      return refused;
    },
  };
}
