// Node state with durable fsids, in files written by group commit:
//   fsids.log   new fsids, appended one line each and fsynced before a new node's export goes live
//               (commitFsids): the cost of that does not grow with the node count (fsid-log.ts).
//   fsids.json  every fsid ever handed out + the high-water mark, as of the last compaction: at
//               start-up, at a clean stop, and when fsids.log outgrows max(1 MiB, fsids.json), the
//               journal is folded into it (written atomically) and emptied. Both are read at start-up.
//   state.json  the node records (state, timeline, ...). Large at 10,000 nodes, so written lazily, in pieces,
//               and coalesced; losing the last few changes in a crash only means a node that was
//               ready shows pending and is provisioned again (idempotent).
// One write serves every change made before it started. A failed write (full disk) keeps the old
// file, rejects the waiters of that write (their jobs retry) and is tried again later.
import { readFile, readdir, unlink, mkdir, stat } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeRecord } from '../types.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { emptyState, fsidMember, mergeFsids, parseFsids, parseState, serializeFsids, stateText, type StateData } from './codec.ts';
import { createCommitter, type Committer } from './committer.ts';
import { adoptFsids, type FsidSource, type Overruled } from './recover.ts';
import { fsidLogLine, parseFsidLog } from './fsid-log.ts';
import { openFsidJournal, readFsidJournal, type FsidJournal } from './fsid-journal.ts';
import { STATE_LAZY_MS } from '../timing.ts';

/** fsids.log is folded into fsids.json once it is larger than this and than fsids.json. */
const JOURNAL_MIN_BOUND = 1 << 20;


export interface StateStoreOptions {
  dir: string;
  startFsid: number;
  log: Logger;
  /** dry-run: read the files if present but never write */
  memoryOnly?: boolean;
  /** least delay before an unawaited node change is written (default 200 ms; grows with write cost) */
  lazyMs?: number;
  /** delay before retrying a failed write (default 1000 ms) */
  retryMs?: number;
  /** injected for tests: the atomic writer (state.json comes as a sequence of pieces) */
  write?: (file: string, text: string | Iterable<string>) => Promise<void>;
  /** while this says busy (nodes being provisioned), unawaited state.json writes wait (up to 5 s) */
  busy?: () => boolean;
  /** fsids.log is folded into fsids.json once larger than this and than fsids.json (default 1 MiB; tests) */
  journalBound?: number;
}

/** The daemon's only view of persisted state. */
export interface StateStore {
  readonly file: string;
  readonly fsidFile: string;
  readonly fsidLogFile: string;
  /**
   * Read both files. `recover` reads the NFS server's view of our exports: fsids it holds for
   * names the files do not know are adopted (the files win where they disagree), so that a lost
   * or stale state file never gives a node another fsid.
   */
  load(recover?: () => Promise<FsidSource | undefined>): Promise<void>;
  /** what the last load() adopted from the exports, and what it overruled (start-up reporting) */
  recovery(): Recovery | undefined;
  /** fsid -> name for every fsid ever handed out (start-up checks; built on each call) */
  fsidHolders(): Map<number, string>;
  get(name: string): NodeRecord | undefined;
  all(): NodeRecord[];
  size(): number;
  findByIp(ip: string): NodeRecord | undefined;
  findByMac(mac: string): NodeRecord | undefined;
  /** insert or replace a record (written lazily) */
  put(rec: NodeRecord): void;
  /** drop a record; its fsid stays reserved for that name */
  remove(name: string): void;
  /** the node's fsid, allocating the next one the first time (durable after commitFsids()) */
  fsidFor(name: string): number;
  /** the fsid a name has or would get, without allocating */
  peekFsid(name: string): number;
  /** resolves when every fsid handed out before the call is on disk (cheap when nothing is new) */
  commitFsids(): Promise<void>;
  /** resolves when every change (fsids and records) made before the call is on disk */
  commit(): Promise<void>;
  /** completed writes of state.json and fsids.json (for tests and metrics) */
  writes(): { state: number; fsids: number };
  /** final write; stops timers; throws when it could not be written */
  close(): Promise<void>;
}

/** What load() took from the exports (see StateStore.load). */
export interface Recovery {
  from: string;
  adopted: number;
  overruled: Overruled[];
  skipped: string[];
}

/** Create the store; call load() before use. */
export function createStateStore(o: StateStoreOptions): StateStore {
  const file = path.join(o.dir, 'state.json');
  const fsidFile = path.join(o.dir, 'fsids.json');
  const fsidLogFile = path.join(o.dir, 'fsids.log');
  const write = o.write ?? ((f: string, t: string | Iterable<string>) => writeFileAtomic(f, t, { mode: 0o600 }));
  const minLazy = o.lazyMs ?? STATE_LAZY_MS;
  let data: StateData = emptyState(o.startFsid);
  const byIp = new Map<string, string>();
  const byMac = new Map<string, string>();
  const off = !!o.memoryOnly;
  let fsidMembers = '';
  let recovered: Recovery | undefined;
  let journal: FsidJournal | undefined;
  /** journal lines of fsids handed out and not yet appended */
  let unlogged: string[] = [];
  let snapshotBytes = 0;
  const bound = o.journalBound ?? JOURNAL_MIN_BOUND;

  /** fsids.json with every fsid handed out so far (including unlogged ones), then an empty journal */
  async function compact(): Promise<void> {
    const text = serializeFsids(data.nextFsid, fsidMembers);
    const had = unlogged;
    unlogged = [];
    try {
      await write(fsidFile, text);
    } catch (e) {
      unlogged = had.concat(unlogged);
      throw e;
    }
    snapshotBytes = Buffer.byteLength(text);
    await journal?.clear();
  }
  /** append what is unlogged, or compact when the journal is over its bound */
  async function writeFsids(): Promise<void> {
    if (!journal) throw new Error(`${fsidLogFile}: not open (load() first)`);
    if (journal.size() > Math.max(bound, snapshotBytes)) return compact();
    const lines = unlogged;
    unlogged = [];
    if (!lines.length) return;
    try {
      await journal.append(lines.join(''));
    } catch (e) {
      unlogged = lines.concat(unlogged);
      throw e;
    }
    // folded in soon, by a write of its own, not by the next new node's
    if (journal.size() > Math.max(bound, snapshotBytes)) fsids.changed();
  }
  const fsids: Committer = createCommitter({ off, retryMs: o.retryMs, log: o.log, what: fsidLogFile, write: writeFsids });
  const nodes: Committer = createCommitter({
    off,
    retryMs: o.retryMs,
    log: o.log,
    what: file,
    lazyMs: minLazy,
    deferWhile: o.busy,
    write: () => write(file, stateText(data, fsidMembers)),
  });

  const index = (r: NodeRecord) => {
    byIp.set(r.ip, r.name);
    if (r.mac) byMac.set(r.mac, r.name);
  };
  const unindex = (r: NodeRecord) => {
    if (byIp.get(r.ip) === r.name) byIp.delete(r.ip);
    if (r.mac && byMac.get(r.mac) === r.name) byMac.delete(r.mac);
  };

  async function readIfPresent(f: string): Promise<string | undefined> {
    try {
      return await readFile(f, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      return undefined;
    }
  }

  return {
    file,
    fsidFile,
    fsidLogFile,
    async load(recover) {
      const [stateText, fsidText, logBytes] = await Promise.all([readIfPresent(file), readIfPresent(fsidFile), readFsidJournal(fsidLogFile)]);
      data = stateText === undefined ? emptyState(o.startFsid) : parseState(file, stateText, o.startFsid);
      // the files all know fsids; their union (and the highest mark) is the truth
      if (fsidText !== undefined) data = mergeFsids(data, parseFsids(fsidFile, fsidText), { state: file, fsids: fsidFile });
      let journalGood = 0;
      if (logBytes !== undefined) {
        const l = parseFsidLog(fsidLogFile, logBytes);
        journalGood = l.goodBytes;
        data = mergeFsids(data, l, { state: file, fsids: fsidLogFile });
        // never acknowledged (its fsync had not returned), so no export carries it
        if (l.torn !== undefined) o.log.warn({ file: fsidLogFile, torn: l.torn }, `${fsidLogFile}: ignored an incomplete last line (a crash during its write)`);
      }
      const markFromFiles = data.nextFsid;
      const fromFiles = new Set(data.fsids.keys());
      recovered = undefined;
      let src: FsidSource | undefined;
      try {
        src = await recover?.();
      } catch (e) {
        // a safety net that cannot be read is no reason to refuse to start; the batcher reports the file
        o.log.warn({ err: (e as Error).message }, `could not read the exports to check the fsids in ${file}: ${(e as Error).message}`);
      }
      if (src) {
        const a = adoptFsids(data, src);
        data = a.data;
        recovered = { from: src.from, adopted: a.adopted, overruled: a.overruled, skipped: a.skipped };
        const missing = [stateText === undefined && 'state.json', fsidText === undefined && 'fsids.json'].filter(Boolean);
        const why = missing.length ? `${missing.join(' and ')} ${missing.length > 1 ? 'were' : 'was'} missing` : 'the state files were older than the exports';
        if (a.adopted) o.log.warn({ from: src.from, fsids: a.adopted, nextFsid: data.nextFsid }, `recovered ${a.adopted} fsids from ${src.from} (${why})`);
        if (a.overruled.length) o.log.warn({ from: src.from, entries: a.overruled.slice(0, 50).map((x) => x.why) }, `${a.overruled.length} entries of ${src.from} contradict the state files; the state files win (first: ${a.overruled[0]!.why})`);
        if (a.skipped.length) o.log.warn({ from: src.from, entries: a.skipped.slice(0, 50) }, `${a.skipped.length} entries of ${src.from} are ambiguous and were not adopted; those nodes get new fsids (first: ${a.skipped[0]})`);
      }
      byIp.clear();
      byMac.clear();
      for (const r of data.nodes.values()) index(r);
      fsidMembers = off ? '' : [...data.fsids].map(([k, v]) => fsidMember(k, v)).join(',');
      unlogged = [];
      if (!off) {
        await mkdir(o.dir, { recursive: true, mode: 0o755 });
        // temp files of a write that a crash interrupted: the renamed-in files are the truth
        for (const f of await readdir(o.dir)) {
          if (/^\.(state|fsids)\.json\..*\.tmp$/.test(f)) await unlink(path.join(o.dir, f)).catch(() => {});
        }
        await journal?.close().catch(() => {});
        journal = undefined;
        // the journal is folded into fsids.json before it is emptied (at open), and adopted fsids are
        // on disk before any new node's
        let keep = 0;
        if (fsidText === undefined || (logBytes?.length ?? 0) > 0 || data.nextFsid !== markFromFiles) {
          try {
            await compact();
          } catch (e) {
            // the journal stays as it is (its whole lines), and is folded in at the next start
            keep = journalGood;
            o.log.warn({ err: (e as Error).message }, `could not fold ${fsidLogFile} into ${fsidFile} (${(e as Error).message}); appending to it as it is`);
            // adopted fsids then go into the journal, with the next write
            for (const [k, v] of data.fsids) if (!fromFiles.has(k)) unlogged.push(fsidLogLine(k, v));
            if (unlogged.length) fsids.changed();
          }
        } else snapshotBytes = (await stat(fsidFile)).size;
        journal = await openFsidJournal(fsidLogFile, keep);
      }
      if (recovered?.adopted) nodes.changed();
      o.log.info({ file, nodes: data.nodes.size, fsids: data.fsids.size, nextFsid: data.nextFsid }, stateText === undefined ? 'no state file yet; starting empty' : 'state loaded');
    },
    recovery: () => recovered,
    fsidHolders() {
      const m = new Map<number, string>();
      for (const [name, fsid] of data.fsids) m.set(fsid, name);
      return m;
    },
    get: (name) => data.nodes.get(name),
    all: () => [...data.nodes.values()],
    size: () => data.nodes.size,
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
      // only keys that change are touched: a delete + set of the same key leaves a deleted slot in
      // the hash table, and three puts per new node doubled both indexes (0.9 MB each at 10,000)
      if (old) {
        if (old.ip !== rec.ip && byIp.get(old.ip) === old.name) byIp.delete(old.ip);
        if (old.mac && old.mac !== rec.mac && byMac.get(old.mac) === old.name) byMac.delete(old.mac);
      }
      data.nodes.set(rec.name, rec);
      if (byIp.get(rec.ip) !== rec.name) byIp.set(rec.ip, rec.name);
      if (rec.mac && byMac.get(rec.mac) !== rec.name) byMac.set(rec.mac, rec.name);
      nodes.changed();
    },
    remove(name) {
      const old = data.nodes.get(name);
      if (!old) return;
      unindex(old);
      data.nodes.delete(name);
      nodes.changed();
    },
    fsidFor(name) {
      const have = data.fsids.get(name);
      if (have !== undefined) return have;
      const fsid = data.nextFsid++;
      data.fsids.set(name, fsid);
      // the members text only feeds the files: a dry run (nothing written) keeps none
      if (!off) {
        fsidMembers += (fsidMembers ? ',' : '') + fsidMember(name, fsid);
        unlogged.push(fsidLogLine(name, fsid));
      }
      fsids.changed();
      nodes.changed();
      return fsid;
    },
    peekFsid: (name) => data.fsids.get(name) ?? data.nextFsid,
    commitFsids: () => fsids.commit(),
    async commit() {
      // both writes settle before an error is reported: a rejection must not leave the other
      // file's write (and its temp file) still in flight
      const r = await Promise.allSettled([fsids.commit(), nodes.commit()]);
      const failed = r.find((x) => x.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
    writes: () => ({ state: nodes.writes(), fsids: fsids.writes() }),
    async close() {
      const errors = (await Promise.allSettled([fsids.close(), nodes.close()])).filter((r) => r.status === 'rejected');
      // a clean stop leaves every fsid in fsids.json (what an admin, a backup or an older version reads)
      if (!errors.length && journal && journal.size() > 0) {
        await compact().catch((e: Error) => o.log.warn({ err: e.message }, `could not fold ${fsidLogFile} into ${fsidFile} at stop (${e.message}); it is read at the next start`));
      }
      await journal?.close().catch(() => {});
      journal = undefined;
      if (errors.length) throw (errors[0] as PromiseRejectedResult).reason;
    },
  };
}
