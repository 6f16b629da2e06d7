// Batches export changes: every node that wants its export live (or gone) joins the next batch;
// a batch rewrites our one exports file once, reloads once (one `exportfs -r` or one SIGHUP) and
// then settles each waiter on its own result. A storm of N nodes costs a few reloads, not N.
// While the server is known to export exactly our file (the last batch verified every entry), a
// backend with `apply` gets just the batch's change instead of a reload (kernel: an etab edit),
// and one with `reconcile` is brought to the whole set change by change instead of reloading it.
//
// When to flush: in a quiet period, as soon as no new request arrived for `idleMs` (low latency
// for a single node). Right after a flush (a storm), wait for a `window` that doubles with each
// back-to-back flush up to `maxWindowMs`, or until requests stop arriving for `busyIdleMs` (the
// callers are all waiting on us, or the storm is over).
import path from 'node:path';
import { removeStaleTemps } from './stale-temp.ts';
import type { Logger } from 'pino';
import { writeFileAtomicSync } from '../src/atomic-file.ts';
import { READ_LIMITS, readRegularIfPresent } from '../src/safe-open.ts';
import { ConflictError } from '../src/errors.ts';
import { printable } from '../src/validate.ts';
import { renderedText, type ExportBackend } from './export-backends.ts';
import { checkExportEntry, sameEntry, type ExportEntry } from './export-entry.ts';
import { EXPORT_BATCH } from '../src/timing.ts';

/** Batching windows (ms); see the top comment. */
export interface BatcherOptions {
  idleMs: number;
  busyIdleMs: number;
  baseWindowMs: number;
  maxWindowMs: number;
  /** a flush that starts within this long after the previous one ended counts as back-to-back */
  busyGapMs: number;
}

/** Tuned so a lone lease barely waits and a storm needs only a handful of reloads: src/timing.ts (figures: docs/performance.md). */
export const DEFAULT_BATCHER_OPTIONS: BatcherOptions = { ...EXPORT_BATCH };

type Request =
  | { kind: 'want'; entry: ExportEntry; force: boolean; resolve: () => void; reject: (e: Error) => void }
  | { kind: 'drop'; path: string; resolve: () => void; reject: (e: Error) => void };

/** See the top comment. `want` resolves once the entry is verified live; `drop` once it is gone. */
export interface ExportBatcher {
  want(entry: ExportEntry, opts?: { force?: boolean }): Promise<void>;
  drop(path: string): Promise<void>;
  /** the export set as pxebootd means it (loaded from our file on first use) */
  entries(): Promise<Map<string, ExportEntry>>;
  /** flush pending requests now and wait for them */
  flush(): Promise<void>;
  /** re-evaluate the flush condition (a caller finished or gave up before reaching the batcher) */
  poke(): void;
  flushes(): number;
  close(): Promise<void>;
}

/** What the batcher needs from the provisioner. */
export interface BatcherDeps {
  backend: ExportBackend;
  log: Logger;
  dryRun: boolean;
  /**
   * Which of these paths have our overlay mounted. Entries that do not are dropped at the next
   * flush (after a server reboot an unmounted node dir is an empty directory: exporting it would
   * hand the client the wrong tree). Omitted: every entry is kept.
   */
  mounted?: (paths: string[]) => Promise<Set<string>>;
  /**
   * How many callers (provisions, releases) are in progress. When every one of them is waiting
   * on this batcher, nobody else can join the batch, so it flushes at once instead of idling.
   */
  activeCallers?: () => number;
}

/** One batcher per provisioner: it owns the in-memory export set and our exports file. */
export function createExportBatcher(deps: BatcherDeps, options: Partial<BatcherOptions> = {}): ExportBatcher {
  const o = { ...DEFAULT_BATCHER_OPTIONS, ...options };
  const { backend, log } = deps;
  let desired: Map<string, ExportEntry> | undefined;
  /** who holds each fsid in `desired` (kept with it: rebuilding it per batch cost a 10,000-entry map) */
  const byFsid = new Map<number, string>();
  /** `desired` differs from our file: the next batch rewrites it */
  let fileStale = false;
  let pending: Request[] = [];
  let dirty = false;
  let flushing: Promise<void> | undefined;
  let idleTimer: NodeJS.Timeout | undefined;
  let idleNow: NodeJS.Immediate | undefined;
  let windowTimer: NodeJS.Timeout | undefined;
  let batchStart: number | undefined;
  /** decided when the batch starts: a batch that starts in a storm stays a storm batch */
  let batchBusy = false;
  let overdue = false;
  let lastBatchSize = 0;
  let mustReload = false;
  /** the last batch left the server exporting exactly `desired` (verified): the next change may be applied alone */
  let inSync = false;
  /** paths loaded from the file that no caller has re-wanted yet: the ones to check are mounted */
  const unconfirmed = new Set<string>();
  let lastFlushEnd = -Infinity;
  let window = o.baseWindowMs;
  let count = 0;
  let closed = false;

  async function load(): Promise<Map<string, ExportEntry>> {
    if (desired) return desired;
    const text = (await readRegularIfPresent(backend.file, READ_LIMITS.tableBytes, 'an exports file'))?.toString('utf8') ?? '';
    const { entries, bad } = backend.parse(text);
    for (const b of bad) log.warn({ file: backend.file, input: printable(b) }, `dropping a line of ${backend.file} that pxebootd did not write`);
    if (!desired) {
      desired = new Map(entries.map((e) => [e.path, Object.freeze(e)]));
      for (const e of entries) {
        unconfirmed.add(e.path);
        byFsid.set(e.fsid, e.path);
      }
      // once: from here on every change to `desired` marks the file stale (see put/remove)
      fileStale = renderedText(backend, desired.values()) !== text;
      if (!deps.dryRun) {
        const stale = await removeStaleTemps(path.dirname(backend.file), path.basename(backend.file));
        if (stale.length) log.info({ files: stale }, `removed ${stale.length} temp file(s) left by a killed pxebootd`);
      }
    }
    return desired;
  }

  /** Set or replace an entry, keeping byFsid and fileStale; returns the entry it replaced. */
  function put(map: Map<string, ExportEntry>, e: ExportEntry): ExportEntry | undefined {
    const old = map.get(e.path);
    if (old && byFsid.get(old.fsid) === old.path) byFsid.delete(old.fsid);
    map.set(e.path, e);
    byFsid.set(e.fsid, e.path);
    if (!old || !sameEntry(old, e)) fileStale = true;
    return old;
  }

  /** Remove an entry, keeping byFsid and fileStale; returns it. */
  function remove(map: Map<string, ExportEntry>, p: string): ExportEntry | undefined {
    const old = map.get(p);
    if (!old) return undefined;
    map.delete(p);
    if (byFsid.get(old.fsid) === old.path) byFsid.delete(old.fsid);
    fileStale = true;
    return old;
  }

  function clearTimers(): void {
    if (idleTimer) clearTimeout(idleTimer);
    if (windowTimer) clearTimeout(windowTimer);
    if (idleNow) clearImmediate(idleNow);
    idleTimer = windowTimer = idleNow = undefined;
  }

  // a storm: requests arrive while a flush runs, or the last batch was a crowd that ended just now;
  // a lone node after a lone node (one lease at a time) is not a storm and gets the short idle
  function isBusy(now: number): boolean {
    return flushing !== undefined || (lastBatchSize > 1 && now - lastFlushEnd < o.busyGapMs);
  }

  /** (Re)arm the timers for the batch that is collecting now. */
  function schedule(): void {
    if (closed) return;
    const now = performance.now();
    if (batchStart === undefined) {
      batchBusy = isBusy(now);
      window = batchBusy ? Math.min(o.maxWindowMs, window * 2) : o.baseWindowMs;
      batchStart = now;
    }
    if (!windowTimer) windowTimer = setTimeout(trigger, Math.max(0, batchStart + window - now));
    if (idleTimer) clearTimeout(idleTimer);
    if (idleNow) clearImmediate(idleNow);
    idleTimer = idleNow = undefined;
    // everyone who could add to this batch is already in it: no point waiting (setImmediate, not
    // setTimeout(0), which is 1 ms; requests queued in the same turn still join)
    // In a storm batch, a pause in requests means nothing while other callers are still mounting
    // (mounts finish at the spawn rate, often >15 ms apart under load, and 100 ms after a flush
    // the storm is not over): flush early only when the callers in progress are all here; the
    // window bounds the wait.
    const active = deps.activeCallers?.();
    if (active !== undefined && pending.length >= active) idleNow = setImmediate(trigger);
    else if (!batchBusy) idleTimer = setTimeout(trigger, o.idleMs);
    else if (active === undefined) idleTimer = setTimeout(trigger, o.busyIdleMs);
  }

  function trigger(): void {
    clearTimers();
    if (flushing) {
      overdue = true; // flush again as soon as the running one ends
      return;
    }
    if (pending.length === 0 && !dirty) return;
    batchStart = undefined;
    overdue = false;
    flushing = runFlush().finally(() => {
      flushing = undefined;
      lastFlushEnd = performance.now();
      if (overdue) trigger();
      else if (pending.length || dirty) schedule();
    });
  }

  async function runFlush(): Promise<void> {
    const batch = pending;
    pending = [];
    lastBatchSize = batch.length;
    count++;
    const t0 = performance.now();
    let map: Map<string, ExportEntry>;
    try {
      map = await load();
    } catch (e) {
      for (const r of batch) r.reject(e as Error);
      return;
    }
    // what this batch replaced, to put back if the file cannot be written
    const undo: Array<[string, ExportEntry | undefined]> = [];
    const staleBefore = fileStale;
    const inSyncBefore = inSync;
    const live: ExportEntry[] = [];
    const gone: ExportEntry[] = [];
    const wants: Array<Extract<Request, { kind: 'want' }>> = [];
    const drops: Array<Extract<Request, { kind: 'drop' }>> = [];
    let force = dirty || mustReload;
    // only a change to a known state can be applied alone; a forced want (restore) reloads
    let incremental = !force && inSync && !staleBefore && backend.apply !== undefined && !deps.dryRun;
    /** what this batch changes on the server: entries to export (new or changed), entries that stop */
    const putNow: ExportEntry[] = [];
    const dropNow: ExportEntry[] = [];
    dirty = false;
    for (const r of batch) {
      if (r.kind === 'want') {
        const holder = byFsid.get(r.entry.fsid);
        if (holder !== undefined && holder !== r.entry.path) {
          r.reject(new ConflictError(`fsid ${r.entry.fsid} for ${r.entry.path} is already used by ${holder}`));
          continue;
        }
        const old = put(map, r.entry);
        undo.push([r.entry.path, old]);
        // unchanged and not forced: the backend only checks (kernel: etab) and reloads if that fails
        if (!old || !sameEntry(old, r.entry) || r.force) force = true;
        if (r.force) incremental = false;
        if (!old || !sameEntry(old, r.entry)) {
          putNow.push(r.entry);
          if (old) dropNow.push(old);
        }
        wants.push(r);
      } else {
        const old = remove(map, r.path);
        if (old) {
          undo.push([r.path, old]);
          gone.push(old);
          dropNow.push(old);
          force = true;
        }
        drops.push(r);
      }
    }
    // every want comes after its mount; only entries inherited from the file need the check
    for (const w of wants) unconfirmed.delete(w.entry.path);
    for (const g of gone) unconfirmed.delete(g.path);
    if (deps.mounted && !deps.dryRun && unconfirmed.size) {
      try {
        const others = [...unconfirmed];
        const have = await deps.mounted(others);
        for (const p of others) {
          unconfirmed.delete(p);
          if (have.has(p) || !map.has(p)) continue;
          log.warn({ path: p }, `dropping the export of ${p}: no overlay is mounted there`);
          const old = remove(map, p)!;
          undo.push([p, old]);
          gone.push(old);
          dropNow.push(old);
          force = true;
        }
      } catch (e) {
        log.warn({ err: (e as Error).message }, 'could not check which exports are mounted; keeping them all');
      }
    }
    // a drop and a want for the same path in one batch: the later request wins
    for (const w of wants) if (map.get(w.entry.path) === w.entry) live.push(w.entry);
    if (fileStale) {
      try {
        // no fsync: rename is atomic, and restore() rewrites the file from state after a crash.
        // Synchronous calls: a few syscalls per 200 lines, not a thread-pool round trip per step and piece
        if (!deps.dryRun) writeFileAtomicSync(backend.file, backend.render(map.values()), { mode: 0o644, mkdirp: true, noSync: true });
        else log.info({ file: backend.file }, `dry-run: would rewrite ${backend.file} (${map.size} exports)`);
        fileStale = false;
        force = true;
      } catch (e) {
        for (let i = undo.length - 1; i >= 0; i--) {
          const [p, old] = undo[i]!;
          if (old) put(map, old);
          else remove(map, p);
        }
        fileStale = staleBefore;
        for (const r of batch) r.reject(e as Error);
        return;
      }
    }
    let errors: Map<string, Error>;
    let applied = false;
    inSync = false;
    try {
      if (incremental && force) {
        // a want superseded by a later drop in this batch is not put
        const puts = putNow.filter((e) => map.get(e.path) === e);
        const got = await backend.apply!(puts, dropNow, live, gone);
        // anything unexpected (e.g. an admin's `exportfs -ua` took other nodes' lines): reload
        applied = got !== undefined && got.size === 0;
        if (got?.size) log.info({ problems: [...got.values()].slice(0, 3).map((e) => e.message) }, `export change could not be applied alone (${got.size} problem(s)); reloading`);
      }
      // a full sync: where the backend can bring the server to `map` change by change (Ganesha over
      // DBus), that replaces the reload (a Ganesha reload re-reads every export and, while it runs,
      // undoes a RemoveExport made meanwhile); it resolves undefined when it cannot, and we reload
      let synced: Map<string, Error> | undefined;
      if (!applied && !deps.dryRun && force && backend.reconcile) {
        synced = await backend.reconcile(map.values(), live, gone);
        const batchPaths = new Set([...live, ...gone].map((e) => e.path));
        const others = [...(synced ?? [])].filter(([p]) => !batchPaths.has(p));
        if (others.length) log.warn({ problems: others.slice(0, 3).map(([, e]) => e.message) }, `${others.length} export(s) of nodes outside this batch are not as our file says; the next change syncs again`);
      }
      errors = applied ? new Map() : deps.dryRun ? new Map() : synced ?? (await backend.reload(live, gone, !force));
    } catch (e) {
      // the file is written but nobody knows whether the server read it: the next batch must
      // reload even if nothing changes (e.g. Ganesha was down when we sent SIGHUP)
      mustReload = true;
      for (const r of batch) r.reject(e as Error);
      return;
    }
    mustReload = false;
    // verified now: every live entry checked, and a reload (or an applied change) made the rest match
    inSync = errors.size === 0 && (force || inSyncBefore);
    for (const w of wants) {
      if (map.get(w.entry.path) !== w.entry) {
        w.resolve(); // superseded by a later drop in the same batch; that drop reports
        continue;
      }
      const err = errors.get(w.entry.path);
      if (err) {
        remove(map, w.entry.path); // never leave a broken line behind for everyone's next exportfs
        dirty = true;
        w.reject(err);
      } else {
        w.resolve();
      }
    }
    for (const d of drops) {
      const err = errors.get(d.path);
      if (err) d.reject(err);
      else d.resolve();
    }
    log.debug({ batch: batch.length, exports: map.size, reloaded: force && !applied, applied, ms: Math.round(performance.now() - t0) }, 'export batch flushed');
  }

  function enqueue<T extends Request>(make: (resolve: () => void, reject: (e: Error) => void) => T): Promise<void> {
    if (closed) return Promise.reject(new Error('export batcher is closed'));
    return new Promise<void>((resolve, reject) => {
      pending.push(make(resolve, reject));
      schedule();
    });
  }

  return {
    want(entry, opts = {}) {
      try {
        checkExportEntry(entry, { maxFsid: backend.maxFsid });
      } catch (e) {
        return Promise.reject(e as Error);
      }
      return enqueue((resolve, reject) => ({ kind: 'want', entry: Object.freeze({ ...entry }), force: opts.force ?? false, resolve, reject }));
    },
    drop(path) {
      return enqueue((resolve, reject) => ({ kind: 'drop', path, resolve, reject }));
    },
    entries: load,
    async flush() {
      while (flushing || pending.length) {
        if (flushing) await flushing;
        else trigger();
      }
    },
    flushes: () => count,
    poke() {
      if (pending.length && !flushing) schedule();
    },
    async close() {
      await this.flush();
      if (dirty) {
        trigger();
        await flushing;
      }
      closed = true;
      clearTimers();
    },
  };
}
