// Node state with durable fsids. Changes are made in memory and written by group commit: one
// atomic write of state.json serves every change made before it started, so a storm of 1,000
// events costs a handful of writes. A failed write (full disk) keeps the old file, rejects the
// waiters of that write (their jobs retry) and tries again later; the daemon keeps running.
import { readFile, readdir, unlink, mkdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeRecord } from '../types.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { emptyState, parseState, serializeState, type StateData } from './codec.ts';

export interface StateStoreOptions {
  dir: string;
  startFsid: number;
  log: Logger;
  /** dry-run: read the file if present but never write */
  memoryOnly?: boolean;
  /** delay before an unawaited change is written (default 200 ms) */
  lazyMs?: number;
  /** delay before retrying a failed write (default 1000 ms) */
  retryMs?: number;
  /** injected for tests: the atomic writer */
  write?: (file: string, text: string) => Promise<void>;
}

/** The daemon's only view of persisted state. */
export interface StateStore {
  readonly file: string;
  load(): Promise<void>;
  get(name: string): NodeRecord | undefined;
  all(): NodeRecord[];
  findByIp(ip: string): NodeRecord | undefined;
  findByMac(mac: string): NodeRecord | undefined;
  /** insert or replace a record (schedules a lazy write) */
  put(rec: NodeRecord): void;
  /** drop a record; its fsid stays reserved for that name */
  remove(name: string): void;
  /** the node's fsid, allocating the next one the first time (durable after commit()) */
  fsidFor(name: string): number;
  /** the fsid a name has or would get, without allocating */
  peekFsid(name: string): number;
  /** resolves when every change made before the call is on disk */
  commit(): Promise<void>;
  /** number of completed writes (for tests and metrics) */
  writes(): number;
  /** final write; stops timers */
  close(): Promise<void>;
}

const STATE_FILE = 'state.json';

/** Create the store; call load() before use. */
export function createStateStore(o: StateStoreOptions): StateStore {
  const file = path.join(o.dir, STATE_FILE);
  const write = o.write ?? ((f: string, t: string) => writeFileAtomic(f, t, { mode: 0o600 }));
  const lazyMs = o.lazyMs ?? 200;
  const retryMs = o.retryMs ?? 1000;
  let data: StateData = emptyState(o.startFsid);
  const byIp = new Map<string, string>();
  const byMac = new Map<string, string>();
  let changeSeq = 0;
  let durableSeq = 0;
  let lastError: Error | undefined;
  let timer: NodeJS.Timeout | undefined;
  let writeCount = 0;
  let closed = false;
  let waiters: Array<{ seq: number; resolve: () => void; reject: (e: Error) => void }> = [];

  const index = (r: NodeRecord) => {
    byIp.set(r.ip, r.name);
    if (r.mac) byMac.set(r.mac, r.name);
  };
  const unindex = (r: NodeRecord) => {
    if (byIp.get(r.ip) === r.name) byIp.delete(r.ip);
    if (r.mac && byMac.get(r.mac) === r.name) byMac.delete(r.mac);
  };
  const changed = () => {
    changeSeq++;
    schedule(lazyMs);
  };

  function schedule(ms: number): void {
    if (o.memoryOnly || closed || timer) return;
    timer = setTimeout(() => {
      timer = undefined;
      void flush();
    }, ms);
    timer.unref?.();
  }

  // Writes are chained: a write serialises every change made before it starts, and a queued write
  // finds nothing left to do when an earlier one already covered it. That is the group commit.
  let chain: Promise<void> = Promise.resolve();
  function flush(): Promise<void> {
    if (o.memoryOnly) return Promise.resolve();
    chain = chain.then(writeOnce);
    return chain;
  }

  async function writeOnce(): Promise<void> {
    if (durableSeq >= changeSeq) return;
    const seq = changeSeq;
    try {
      await write(file, serializeState(data));
      writeCount++;
      durableSeq = seq;
      const done = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      done.forEach((w) => w.resolve());
    } catch (e) {
      lastError = new Error(`writing ${file} failed (the previous state file is intact): ${(e as Error).message}`, { cause: e });
      o.log.error({ err: lastError.message, file }, 'state write failed; will retry');
      const failed = waiters.filter((w) => w.seq <= seq);
      waiters = waiters.filter((w) => w.seq > seq);
      failed.forEach((w) => w.reject(lastError!));
      if (timer) clearTimeout(timer);
      timer = undefined;
      schedule(retryMs);
    }
  }

  return {
    file,
    async load() {
      let text: string | undefined;
      try {
        text = await readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      data = text === undefined ? emptyState(o.startFsid) : parseState(file, text, o.startFsid);
      byIp.clear();
      byMac.clear();
      for (const r of data.nodes.values()) index(r);
      if (!o.memoryOnly) {
        await mkdir(o.dir, { recursive: true, mode: 0o755 });
        // temp files of a write that a crash interrupted: the renamed-in file is the truth
        for (const f of await readdir(o.dir)) {
          if (f.startsWith(`.${STATE_FILE}.`) && f.endsWith('.tmp')) await unlink(path.join(o.dir, f)).catch(() => {});
        }
      }
      o.log.info({ file, nodes: data.nodes.size, nextFsid: data.nextFsid }, text === undefined ? 'no state file yet; starting empty' : 'state loaded');
    },
    get: (name) => data.nodes.get(name),
    all: () => [...data.nodes.values()],
    findByIp(ip) {
      const n = byIp.get(ip);
      return n === undefined ? undefined : data.nodes.get(n);
    },
    findByMac(mac) {
      const n = byMac.get(mac);
      return n === undefined ? undefined : data.nodes.get(n);
    },
    put(rec) {
      const old = data.nodes.get(rec.name);
      if (old) unindex(old);
      data.nodes.set(rec.name, rec);
      index(rec);
      changed();
    },
    remove(name) {
      const old = data.nodes.get(name);
      if (!old) return;
      unindex(old);
      data.nodes.delete(name);
      changed();
    },
    fsidFor(name) {
      const have = data.fsids.get(name);
      if (have !== undefined) return have;
      const fsid = data.nextFsid++;
      data.fsids.set(name, fsid);
      changed();
      return fsid;
    },
    peekFsid: (name) => data.fsids.get(name) ?? data.nextFsid,
    commit() {
      if (o.memoryOnly || durableSeq >= changeSeq) return Promise.resolve();
      const p = new Promise<void>((resolve, reject) => waiters.push({ seq: changeSeq, resolve, reject }));
      if (timer) clearTimeout(timer);
      timer = undefined;
      void flush();
      return p;
    },
    writes: () => writeCount,
    async close() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      lastError = undefined;
      await flush();
      closed = true;
      if (timer) clearTimeout(timer);
      timer = undefined;
      if (lastError && durableSeq < changeSeq) throw lastError;
    },
  };
}
