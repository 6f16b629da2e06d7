// Node state with durable fsids and records, in append-only journals folded into snapshots:
//   fsids.log   new fsids, appended one line each and fsynced before a new node's export goes live
//               (commitFsids): the cost of that does not grow with the node count (fsid-log.ts).
//   fsids.json  every fsid ever handed out + the high-water mark, as of the last compaction: at
//               start-up, at a clean stop, and when fsids.log outgrows max(1 MiB, fsids.json), the
//               journal is folded into it (written atomically) and emptied. Both are read at start-up.
//   state.log   node record changes, one line per changed node (record-log.ts), appended lazily
//               (or at once by commit(), which callers await for durability) and fdatasynced.
//   state.json  the node records as of the last fold: at start-up (when a journal held anything),
//               at a clean stop, and when state.log outgrows max(4 MiB, state.json), held back
//               while jobs run. A fold renames state.log to state.log.old and appends go on into a
//               new state.log while state.json is written in pieces; then state.log.old is removed.
//               Start-up reads state.json, then state.log.old, then state.log.
// One append serves every change made before it started. A failed write (full disk) keeps the old
// files, rejects the waiters of that write (their jobs retry) and is tried again later.
import { readdir, unlink, mkdir, stat, rename } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { NodeRecord } from '../types.ts';
import { writeFileAtomic } from '../atomic-file.ts';
import { READ_LIMITS, readRegularIfPresent } from '../safe-open.ts';
import { emptyState, fsidMember, mergeFsids, parseFsids, parseState, serializeFsids, stateText, type StateData } from './codec.ts';
import { createCommitter, type Committer } from './committer.ts';
import { adoptFsids, type FsidSource, type Overruled } from './recover.ts';
import { fsidLogLine, parseFsidLog } from './fsid-log.ts';
import { openFsidJournal, readFsidJournal, syncDir, type FsidJournal } from './fsid-journal.ts';
import { delLine, parseRecordLog, putLine, replayRecordLogs, type RecordLog } from './record-log.ts';
import { STATE_FOLD_MAX_DEFER_MS, STATE_LAZY_MS } from '../timing.ts';

/** fsids.log is folded into fsids.json once it is larger than this and than fsids.json. */
const JOURNAL_MIN_BOUND = 1 << 20;
/** state.log is folded into state.json once it is larger than this and than state.json. */
const RECORD_LOG_MIN_BOUND = 4 << 20;
/** Records turned into state.log lines per event-loop turn (a storm's append is thousands). */
const LINES_PER_TURN = 200;


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
  /** state.log is folded into state.json once larger than this and than state.json (default 4 MiB; tests) */
  recordLogBound?: number;
  /** longest a due fold waits while busy (default STATE_FOLD_MAX_DEFER_MS; tests) */
  foldMaxDeferMs?: number;
}

/** The daemon's only view of persisted state. */
export interface StateStore {
  readonly file: string;
  readonly fsidFile: string;
  readonly fsidLogFile: string;
  readonly recordLogFile: string;
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
  /** insert or replace a record (appended to state.log lazily; commit() to make it durable) */
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
  /** completed appends to state.log, appends or folds of fsids.log, and rewrites of state.json (for tests) */
  writes(): { state: number; fsids: number; folds: number };
  /** rewrite state.json from memory and drop the state.log lines it covers (tests; the store does it by itself) */
  fold(): Promise<void>;
  /** final write; stops timers; throws when the changes could not be made durable */
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
  const recordLogFile = path.join(o.dir, 'state.log');
  const oldLogFile = path.join(o.dir, 'state.log.old');
  const write = o.write ?? ((f: string, t: string | Iterable<string>) => writeFileAtomic(f, t, { mode: 0o600 }));
  const minLazy = o.lazyMs ?? STATE_LAZY_MS;
  const retryMs = o.retryMs ?? 1000;
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
  // node records: state.log, state.log.old, state.json
  const recordBound = o.recordLogBound ?? RECORD_LOG_MIN_BOUND;
  const foldMaxDefer = o.foldMaxDeferMs ?? STATE_FOLD_MAX_DEFER_MS;
  let recordLog: FsidJournal | undefined;
  /** names whose record changed since their last line in state.log */
  const dirty = new Set<string>();
  /** state.log.old exists: a fold began (rotated) and has not removed it yet */
  let oldLog = false;
  /** the open journal is state.log.old (renamed; opening the next state.log failed): never removed */
  let activeIsOld = false;
  let stateBytes = 0;
  let folds = 0;
  let folding: Promise<void> | undefined;
  let foldDueAt = 0;
  let foldTimer: NodeJS.Timeout | undefined;
  let closed = false;

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

  /** state.log lines for `names`, made a few hundred per event-loop turn from the records as they are then */
  async function* recordLines(names: string[]): AsyncGenerator<string> {
    for (let i = 0; i < names.length; i += LINES_PER_TURN) {
      if (i > 0) await new Promise((r) => setImmediate(r));
      let text = '';
      for (let k = i; k < Math.min(names.length, i + LINES_PER_TURN); k++) {
        const rec = data.nodes.get(names[k]!);
        text += rec ? putLine(rec) : delLine(names[k]!);
      }
      yield text;
    }
  }
  /** append a line for every record changed since the last append (the committer's write) */
  async function appendRecords(): Promise<void> {
    if (!recordLog) throw new Error(`${recordLogFile}: not open (load() first)`);
    if (!dirty.size) return;
    const names = [...dirty];
    dirty.clear();
    try {
      await recordLog.append(recordLines(names));
    } catch (e) {
      for (const n of names) dirty.add(n);
      throw e;
    }
    if (recordLog.size() > Math.max(recordBound, stateBytes)) foldDue();
  }
  const nodes: Committer = createCommitter({
    off,
    retryMs: o.retryMs,
    log: o.log,
    what: recordLogFile,
    lazyMs: minLazy,
    deferWhile: o.busy,
    write: appendRecords,
  });

  /** state.log outgrew its bound: fold soon, but not while jobs run (up to foldMaxDefer) */
  function foldDue(): void {
    if (off || closed || foldDueAt) return;
    foldDueAt = Date.now();
    scheduleFold(minLazy);
  }
  function scheduleFold(ms: number): void {
    if (off || closed || foldTimer) return;
    foldTimer = setTimeout(() => {
      foldTimer = undefined;
      if (folding || (o.busy?.() && Date.now() - foldDueAt < foldMaxDefer)) return scheduleFold(minLazy);
      fold().catch((e: Error) => {
        o.log.warn({ err: e.message, file }, `could not fold ${recordLogFile} into ${file} (${e.message}); the records stay in the log, retrying`);
        scheduleFold(retryMs);
      });
    }, ms);
    foldTimer.unref?.();
  }
  /** the appends go to a new state.log from here on; the one so far becomes state.log.old */
  async function rotate(): Promise<void> {
    // a fold that failed after its rotation left state.log.old: this one covers it too
    if (oldLog && !activeIsOld) return;
    if (!activeIsOld) {
      await rename(recordLogFile, oldLogFile);
      activeIsOld = oldLog = true;
    }
    // on failure the appends go on into state.log.old (the open descriptor), which is then kept
    const next = await openFsidJournal(recordLogFile, 0);
    const prev = recordLog;
    recordLog = next;
    activeIsOld = false;
    await prev?.close().catch(() => {});
  }
  /**
   * state.json from memory, then state.log.old removed. Every line in state.log.old was made before
   * the pieces of state.json are, so state.json holds them; the lines appended to the new state.log
   * meanwhile are replayed over it at start-up (whole records: replaying one that state.json already
   * has in that or a newer version ends at the newest).
   */
  function fold(): Promise<void> {
    if (off) return Promise.resolve();
    if (folding) return folding;
    folding = (async () => {
      foldDueAt = 0;
      const t0 = performance.now();
      await nodes.exclusive(rotate);
      await write(file, stateText(data, fsidMembers));
      folds++;
      stateBytes = (await stat(file)).size;
      o.log.debug({ file, bytes: stateBytes, nodes: data.nodes.size, ms: Math.round(performance.now() - t0) }, `${recordLogFile} folded into ${file}`);
      if (oldLog && !activeIsOld) {
        await unlink(oldLogFile).catch((e: NodeJS.ErrnoException) => {
          if (e.code !== 'ENOENT') throw e;
        });
        oldLog = false;
        await syncDir(o.dir);
      }
    })().finally(() => (folding = undefined));
    return folding;
  }

  const index = (r: NodeRecord) => {
    byIp.set(r.ip, r.name);
    if (r.mac) byMac.set(r.mac, r.name);
  };
  const unindex = (r: NodeRecord) => {
    if (byIp.get(r.ip) === r.name) byIp.delete(r.ip);
    if (r.mac && byMac.get(r.mac) === r.name) byMac.delete(r.mac);
  };

  async function readIfPresent(f: string): Promise<string | undefined> {
    return (await readRegularIfPresent(f, READ_LIMITS.tableBytes, 'a state file'))?.toString('utf8');
  }

  /** which files state.json, state.log.old and state.log are now (inodes; '-' when absent): a fold changes them, an append does not */
  async function which(): Promise<string> {
    const ids = await Promise.all([file, oldLogFile, recordLogFile].map((f) => stat(f).then((st) => String(st.ino), () => '-')));
    return ids.join(' ');
  }

  /** one record journal's lines (none when the file does not exist) */
  async function readRecordLog(f: string): Promise<RecordLog | undefined> {
    const bytes = await readFsidJournal(f);
    if (bytes === undefined) return undefined;
    const l = parseRecordLog(f, bytes);
    // never acknowledged (its fsync had not returned)
    if (l.torn !== undefined) o.log.warn({ file: f, torn: l.torn }, `${f}: ignored an incomplete last line (a crash during its write)`);
    return l;
  }

  return {
    file,
    fsidFile,
    fsidLogFile,
    recordLogFile,
    async load(recover) {
      const readAll = () => Promise.all([readIfPresent(file), readIfPresent(fsidFile), readFsidJournal(fsidLogFile), readRecordLog(oldLogFile), readRecordLog(recordLogFile)]);
      // a reader beside a running daemon (status, explain) can meet a fold half done: the files are
      // read again until state.json, state.log.old and state.log are the same files before and after
      let files = await which();
      let [stateText0, fsidText, logBytes, oldRecords, records] = await readAll();
      for (let i = 0; i < 5; i++) {
        const now = await which();
        if (now === files) break;
        files = now;
        [stateText0, fsidText, logBytes, oldRecords, records] = await readAll();
      }
      data = stateText0 === undefined ? emptyState(o.startFsid) : parseState(file, stateText0, o.startFsid);
      const recordLogs = [oldRecords, records].filter((l): l is RecordLog => l !== undefined);
      const logged = recordLogs.reduce((n, l) => n + l.ops.length, 0);
      if (logged) data = replayRecordLogs(data, recordLogs, file);
      const stateLabel = logged ? `${file} (with ${recordLogs.map((l) => path.basename(l.file)).join(', ')})` : file;
      // the files all know fsids; their union (and the highest mark) is the truth
      if (fsidText !== undefined) data = mergeFsids(data, parseFsids(fsidFile, fsidText), { state: stateLabel, fsids: fsidFile });
      let journalGood = 0;
      if (logBytes !== undefined) {
        const l = parseFsidLog(fsidLogFile, logBytes);
        journalGood = l.goodBytes;
        data = mergeFsids(data, l, { state: stateLabel, fsids: fsidLogFile });
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
        const missing = [stateText0 === undefined && !logged && 'state.json', fsidText === undefined && 'fsids.json'].filter(Boolean);
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
      dirty.clear();
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
        // the record journals are folded into state.json (which also carries adopted fsids) before
        // they are emptied; when that fails they stay (state.log cut to its whole lines) and are read
        // again at the next start
        await recordLog?.close().catch(() => {});
        recordLog = undefined;
        oldLog = oldRecords !== undefined;
        activeIsOld = false;
        let keepRecords = 0;
        if (recordLogs.some((l) => l.goodBytes > 0 || l.torn !== undefined) || recovered?.adopted) {
          try {
            await write(file, stateText(data, fsidMembers));
            folds++;
            if (oldLog) await unlink(oldLogFile);
            oldLog = false;
          } catch (e) {
            keepRecords = records?.goodBytes ?? 0;
            o.log.warn({ err: (e as Error).message }, `could not fold ${recordLogFile} into ${file} (${(e as Error).message}); appending to it as it is`);
          }
        }
        stateBytes = (await stat(file).catch(() => undefined))?.size ?? 0;
        recordLog = await openFsidJournal(recordLogFile, keepRecords);
      }
      o.log.info({ file, nodes: data.nodes.size, fsids: data.fsids.size, nextFsid: data.nextFsid, ...(logged ? { replayed: logged } : {}) }, stateText0 === undefined && !logged ? 'no state file yet; starting empty' : 'state loaded');
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
      if (!off) dirty.add(rec.name);
      nodes.changed();
    },
    remove(name) {
      const old = data.nodes.get(name);
      if (!old) return;
      unindex(old);
      data.nodes.delete(name);
      if (!off) dirty.add(name);
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
      return fsid;
    },
    peekFsid: (name) => data.fsids.get(name) ?? data.nextFsid,
    commitFsids: () => fsids.commit(),
    async commit() {
      // both writes settle before an error is reported: a rejection must not leave the other
      // file's write still in flight
      const r = await Promise.allSettled([fsids.commit(), nodes.commit()]);
      const failed = r.find((x) => x.status === 'rejected');
      if (failed) throw (failed as PromiseRejectedResult).reason;
    },
    writes: () => ({ state: nodes.writes(), fsids: fsids.writes(), folds }),
    fold,
    async close() {
      closed = true;
      if (foldTimer) clearTimeout(foldTimer);
      foldTimer = undefined;
      const errors = (await Promise.allSettled([fsids.close(), nodes.close()])).filter((r) => r.status === 'rejected');
      await folding?.catch(() => {});
      // a clean stop leaves every fsid in fsids.json and every record in state.json (what an admin,
      // a backup or an older version reads)
      if (!errors.length && journal && journal.size() > 0) {
        await compact().catch((e: Error) => o.log.warn({ err: e.message }, `could not fold ${fsidLogFile} into ${fsidFile} at stop (${e.message}); it is read at the next start`));
      }
      if (!errors.length && recordLog && (recordLog.size() > 0 || oldLog)) {
        const folded = await fold().then(
          () => true,
          (e: Error) => void o.log.warn({ err: e.message }, `could not fold ${recordLogFile} into ${file} at stop (${e.message}); it is read at the next start`),
        );
        // nothing is appended any more, so state.json now holds all that state.log holds
        if (folded && recordLog.size() > 0) await recordLog.clear().catch(() => {});
      }
      await journal?.close().catch(() => {});
      journal = undefined;
      await recordLog?.close().catch(() => {});
      recordLog = undefined;
      if (errors.length) throw (errors[0] as PromiseRejectedResult).reason;
    },
  };
}
