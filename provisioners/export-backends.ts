// The I/O half of each exports backend: how to make the rendered file live and how to tell
// which entries really are. Kernel: `exportfs -r`, then /var/lib/nfs/etab; once one `exportfs -r`
// has shown how it writes our lines, a few nodes' changes are applied to etab directly (apply),
// which costs the same at 10 or 10,000 exports. Ganesha: SIGHUP to the pid in exports.pid_file
// re-reads every EXPORT block (its cost grows with their number, and it is not acknowledged);
// once a SIGHUP has loaded our file, a few nodes' changes go over DBus instead (apply): AddExport
// from a one-block file, RemoveExport by Export_Id, each answered by Ganesha. Where a full reload
// would be needed (start-up, after a failed check) and Ganesha answers on DBus, the whole set is
// reconciled over DBus instead (reconcile): no SIGHUP, so no reload that could bring back an
// export removed while it ran.
import { readFile, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Runner } from '../src/runner.ts';
import type { Config } from '../src/types.ts';
import { RunError } from '../src/errors.ts';
import type { ExportEntry } from './export-entry.ts';
import { createLineCache, etabLine, etabState, etabVerbatim, type EtabEntry, type EtabTemplate, indexEtab, kernelExportsPieces, learnEtabTemplate, parseKernelExports, pathsNamedIn, scanEtab } from './exports-kernel.ts';
import { createEtabEditor, etabPaths, type EtabEditor } from './etab-apply.ts';
import { buildGaneshaBlock, GANESHA_MAX_ID, ganeshaExportsPieces, parseGaneshaExports } from './exports-ganesha.ts';
import { clientIsIp, createGaneshaDbus, type DbusFailure, type GaneshaDbus, type GaneshaExportInfo, type GaneshaShownExport } from './ganesha-dbus.ts';
import { writeFileAtomic } from '../src/atomic-file.ts';
import { createLineChunkReader } from './line-chunks.ts';
import { readRegular } from '../src/safe-open.ts';
import { nodeBelow } from './paths.ts';

/** What the batcher needs from a backend. */
export interface ExportBackend {
  readonly name: 'kernel' | 'ganesha';
  readonly file: string;
  readonly maxFsid: number;
  /** the whole file, as one string or as pieces to be written one after the other */
  render(entries: Iterable<ExportEntry>): string | Iterable<string>;
  parse(text: string): { entries: ExportEntry[]; bad: string[] };
  /**
   * Make the file live (unless `verifyOnly` and the backend can check without reloading) and
   * return an error per path for `live` entries that are not exported as rendered and `gone`
   * entries that still are. Throws only when nothing could be checked at all.
   */
  reload(live: ExportEntry[], gone: ExportEntry[], verifyOnly: boolean): Promise<Map<string, Error>>;
  /**
   * Apply one change to what the server exports without re-reading every export: `put` entries
   * are new or changed, `drop` entries (path + IP) were ours and are gone or replaced; then check
   * `live` and `gone` as reload does. Only valid when the server exported exactly our file before
   * the change. Resolves undefined when it cannot (the caller reloads instead).
   */
  apply?(put: ExportEntry[], drop: ExportEntry[], live: ExportEntry[], gone: ExportEntry[]): Promise<Map<string, Error> | undefined>;
  /**
   * Instead of reload (verifyOnly false): make the server export exactly `desired` by asking what
   * it exports and changing only what differs, then check `live` and `gone` as reload does. The
   * errors may also name desired entries outside `live`. Resolves undefined when it cannot (the
   * caller reloads instead).
   */
  reconcile?(desired: Iterable<ExportEntry>, live: ExportEntry[], gone: ExportEntry[]): Promise<Map<string, Error> | undefined>;
}

/** What the backend may need from the provisioner. */
export interface BackendHooks {
  /** the node_dirs pxebootd mounts under: an export of a path directly below one is ours */
  nodeDirs?: () => Iterable<string>;
}

/** A backend's rendering as one string (small sets: start-up comparison, orphan lines). */
export function renderedText(backend: Pick<ExportBackend, 'render'>, entries: Iterable<ExportEntry>): string {
  const r = backend.render(entries);
  return typeof r === 'string' ? r : [...r].join('');
}

/** The backend named by exports.backend. */
export function createExportBackend(config: Config, runner: Runner, log: Logger, hooks: BackendHooks = {}): ExportBackend {
  return config.exports.backend === 'ganesha' ? ganeshaBackend(config, runner, log, hooks) : kernelBackend(config, runner, log);
}

function kernelBackend(config: Config, runner: Runner, log: Logger): ExportBackend {
  const { options, etab } = config.exports;
  const lineOf = createLineCache(options);
  const readEtab = createLineChunkReader(etab);
  /** how exportfs writes our lines, learned from its last `exportfs -r` (see EtabTemplate) */
  let template: EtabTemplate | undefined;
  let editor: EtabEditor | undefined | false;
  const getEditor = (): EtabEditor | undefined => {
    if (editor === undefined) {
      const e = createEtabEditor(etabPaths(etab), log);
      if ('why' in e) log.warn(`kernel exports: every change runs \`exportfs -r\` (its cost grows with the number of exports): ${e.why}`);
      editor = 'why' in e ? false : e;
    }
    return editor || undefined;
  };
  const check = async (live: ExportEntry[], gone: ExportEntry[], stderr: string, command: string, exitCode: number, learn = false) => {
    const errors = new Map<string, Error>();
    // only this batch's paths: etab holds every export on the machine (10,000+ lines at scale),
    // so it is scanned in pieces and only these paths' lines are decoded
    const paths = new Set([...live, ...gone].map((e) => e.path));
    const found: EtabEntry[] = [];
    try {
      readEtab((piece) => {
        for (const e of scanEtab(piece, paths)) found.push(e);
      });
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
    }
    const index = indexEtab(found);
    const named = exitCode === 0 ? new Set<string>() : pathsNamedIn(stderr, [...live, ...gone].map((e) => e.path));
    for (const e of live) {
      const st = etabState(index, e);
      if (named.has(e.path)) errors.set(e.path, new RunError(command, exitCode, stderr));
      else if (st === 'missing') errors.set(e.path, new Error(`${e.path} is not in ${etab} after ${command}${stderr.trim() ? `: ${stderr.trim().split('\n').slice(-3).join(' | ')}` : ''}`));
      else if (st !== 'ok') errors.set(e.path, new Error(`${e.path} in ${etab}: ${st}`));
    }
    for (const e of gone) {
      if (index.has(e.path)) errors.set(e.path, new Error(`${e.path} is still in ${etab} after ${command} (exported by another exports file?)`));
    }
    if (learn) {
      const ok = live.filter((e) => !errors.has(e.path)).map((entry) => ({ entry, line: index.get(entry.path)![0]! }));
      const t = ok.length ? learnEtabTemplate(options, ok) : undefined;
      if (t) template = t;
      else if (ok.length) template = undefined; // our lines no longer fit one shape: exportfs -r decides again
    }
    return errors;
  };
  return {
    name: 'kernel',
    file: config.exports.file,
    maxFsid: 0xffffffff,
    render: (entries) => kernelExportsPieces(entries, options, lineOf),
    parse: parseKernelExports,
    async reload(live, gone, verifyOnly) {
      if (verifyOnly) {
        const errs = await check(live, gone, '', '(etab check)', 0);
        if (errs.size === 0) return errs;
      }
      const r = await runner.run([config.commands.exportfs, '-r'], { mutating: true, allowFailure: true });
      if (r.skipped) return new Map();
      const errs = await check(live, gone, r.stderr, r.command, r.exitCode, true);
      if (r.exitCode !== 0 && errs.size === 0) {
        // someone else's line (e.g. a missing directory in another drop-in) makes exportfs exit 1;
        // our own lines are in etab with the right client and fsid, so they are live
        log.warn({ cmd: r.command, exitCode: r.exitCode, stderr: r.stderr.slice(0, 2000) }, `${r.command} exited ${r.exitCode} but every pxebootd export is in ${etab}; the complaint is about another exports entry`);
      }
      return errs;
    },
    async apply(put, drop, live, gone) {
      const ed = template?.options === options ? getEditor() : undefined;
      if (!ed || !template || ![...put, ...drop].every((e) => etabVerbatim(e.path))) return undefined;
      const t = template;
      const refused = await ed.apply(drop, put.map((e) => ({ path: e.path, ip: e.ip, line: etabLine(t, e) })));
      const errs = await check(live, gone, '', `(edit of ${etab})`, 0);
      for (const [p, e] of refused) errs.set(p, e);
      return errs;
    },
  };
}

/** Where the one-block files handed to AddExport go: beside our exports file, so Ganesha can read them wherever it reads that. */
export function ganeshaAddDir(exportsFile: string): string {
  return path.join(path.dirname(exportsFile), `${path.basename(exportsFile)}.d`);
}

/** DBus calls in flight at once: Ganesha answers them one by one; this only overlaps the dbus-send start-ups. */
const DBUS_PARALLEL = 4;

/** What reconcile does with what ShowExports lists (pure; ids listed under another path need a DisplayExport first). */
export interface GaneshaSyncPlan {
  /** desired entries whose Export_Id Ganesha does not list: AddExport */
  missing: ExportEntry[];
  /** desired entries listed with their own Export_Id and path */
  same: ExportEntry[];
  /** listed Export_Ids (not 0, the pseudo root) whose path is not the one desired for that id, or that nothing desired uses */
  other: GaneshaShownExport[];
}

/** Sort ShowExports' list against the desired set by Export_Id (see GaneshaSyncPlan). */
export function planGaneshaSync(desired: ReadonlyMap<number, ExportEntry>, shown: readonly GaneshaShownExport[]): GaneshaSyncPlan {
  const listed = new Set<number>();
  const plan: GaneshaSyncPlan = { missing: [], same: [], other: [] };
  for (const s of shown) {
    if (s.id === 0 || listed.has(s.id)) continue;
    listed.add(s.id);
    const want = desired.get(s.id);
    if (want && want.path === s.path) plan.same.push(want);
    else plan.other.push(s);
  }
  for (const [id, e] of desired) if (!listed.has(id)) plan.missing.push(e);
  return plan;
}

/**
 * One listed export that planGaneshaSync could not match, as DisplayExport shows it: `same` (the
 * desired one; ShowExports had shown its Pseudo), `remove` (its path is ours and this id is not
 * wanted there), or `foreign` (not ours: never touched).
 */
export function judgeShownExport(info: GaneshaExportInfo, want: ExportEntry | undefined, ours: (p: string) => boolean): 'same' | 'remove' | 'foreign' {
  if (want && info.path === want.path) return 'same';
  return ours(info.path) ? 'remove' : 'foreign';
}

function ganeshaBackend(config: Config, runner: Runner, log: Logger, hooks: BackendHooks): ExportBackend {
  const pidFile = config.exports.pid_file;
  const mode = config.exports.dbus ?? 'auto';
  const bus: GaneshaDbus = createGaneshaDbus(runner, config.commands.dbus_send ?? 'dbus-send');
  const addDir = ganeshaAddDir(config.exports.file);
  /** the last reason DBus could not be used, to log each change of state once */
  let unreachable: string | undefined;
  const noBus = (f: DbusFailure, command: string): undefined => {
    const why = `${command}: ${f.name ? `${f.name}: ` : ''}${f.message}`;
    if (unreachable !== why) log.warn({ cmd: command, err: f.message }, `Ganesha's export manager is not reachable over DBus (${why}); exports are reloaded with SIGHUP`);
    unreachable = why;
    return undefined;
  };
  const backend: ExportBackend = {
    name: 'ganesha',
    file: config.exports.file,
    maxFsid: GANESHA_MAX_ID,
    render: ganeshaExportsPieces,
    parse: parseGaneshaExports,
    async reload(_live, _gone, verifyOnly) {
      if (verifyOnly) return new Map(); // the file is unchanged and SIGHUP has no answer to check
      await signalGanesha(pidFile, log);
      return new Map();
    },
  };
  if (mode === 'off') return backend;
  /** one change set's DBus calls: the errors per path, and whether Ganesha stopped answering */
  const session = () => {
    const s = {
      errors: new Map<string, Error>(),
      lost: undefined as DbusFailure | undefined,
      lostCmd: '',
      /** record a failed call; true when it means nobody answers (the caller then stops) */
      gave(f: DbusFailure, command: string): boolean {
        if (f.unreachable && !s.lost) {
          s.lost = f;
          s.lostCmd = command;
        }
        return f.unreachable;
      },
      fail(p: string, f: DbusFailure, command: string): void {
        if (!s.gave(f, command)) s.errors.set(p, new Error(`${command}: ${f.message}`));
      },
      /** AddExport from a one-block file, so Ganesha parses one block, not all of ours */
      async add(e: ExportEntry): Promise<void> {
        const file = path.join(addDir, `${e.node}.conf`);
        try {
          await writeFileAtomic(file, buildGaneshaBlock(e), { mode: 0o644, mkdirp: true, noSync: true });
          const r = await bus.addExport(file, e.fsid);
          if (!r.ok) s.fail(e.path, r.failure, r.command);
          else if (r.value !== 1) s.errors.set(e.path, new Error(`Ganesha added ${r.value ?? 'an unknown number of'} exports from ${file}, expected 1`));
        } finally {
          await unlink(file).catch(() => {});
        }
      },
      /** the answer is back: DBus works (again) */
      done(): Map<string, Error> | undefined {
        if (s.lost) return noBus(s.lost, s.lostCmd);
        if (unreachable !== undefined) log.info('Ganesha answers over DBus again: export changes are applied one by one');
        unreachable = undefined;
        return s.errors;
      },
    };
    return s;
  };
  backend.apply = async (put, drop, live, gone) => {
    const s = session();
    // 1. drops: only an Export_Id that Ganesha shows with our path is removed (own only what is ours)
    await eachLimited(drop, DBUS_PARALLEL, async (e) => {
      if (s.lost) return;
      const shown = await bus.displayExport(e.fsid);
      if (!shown.ok) return s.fail(e.path, shown.failure, shown.command);
      if (!shown.value) return; // already gone
      if (shown.value.path !== e.path) {
        s.errors.set(e.path, new Error(`Ganesha's Export_Id ${e.fsid} is ${shown.value.path}, not ${e.path}: not removing it`));
        return;
      }
      const r = await bus.removeExport(e.fsid);
      if (!r.ok) s.fail(e.path, r.failure, r.command);
    });
    if (s.lost) return s.done();
    // 2. puts
    await eachLimited(put, DBUS_PARALLEL, async (e) => {
      if (!s.lost) await s.add(e);
    });
    if (s.lost) return s.done();
    // 3. entries in this batch that did not change: ask Ganesha that they are exported as ours
    const putPaths = new Set(put.map((e) => e.path));
    await eachLimited(live.filter((e) => !putPaths.has(e.path) && !s.errors.has(e.path)), DBUS_PARALLEL, async (e) => {
      if (s.lost) return;
      const shown = await bus.displayExport(e.fsid);
      if (!shown.ok) s.fail(e.path, shown.failure, shown.command);
      else if (!shown.value) s.errors.set(e.path, new Error(`Ganesha has no export with Export_Id ${e.fsid} for ${e.path}`));
      else if (!exportedAs(shown.value, e)) {
        s.errors.set(e.path, new Error(`Ganesha's Export_Id ${e.fsid} is ${shown.value.path} for ${shown.value.clients.join(', ') || 'no client'}, expected ${e.path} for ${e.ip}`));
      }
    });
    void gone; // every gone entry was a drop: removed above or already absent
    return s.done();
  };
  backend.reconcile = async (desired, live, gone) => {
    const listed = await bus.showExports();
    if (!listed.ok) {
      if (listed.failure.unreachable) return noBus(listed.failure, listed.command);
      log.warn({ cmd: listed.command, err: listed.failure.message }, `cannot list Ganesha's exports (${listed.failure.message}); reloading them with SIGHUP`);
      return undefined;
    }
    const s = session();
    const want = new Map<number, ExportEntry>();
    for (const e of desired) want.set(e.fsid, e);
    const ownPaths = new Set([...[...want.values()].map((e) => e.path), ...gone.map((e) => e.path)]);
    const dirs = new Set(hooks.nodeDirs?.() ?? []);
    // <node_dir>/<NODE> only, as recovery judges it: an admin's own export elsewhere below a node_dir is not ours
    const ours = (p: string) => ownPaths.has(p) || nodeBelow(p, dirs) !== undefined;
    const plan = planGaneshaSync(want, listed.value);
    const remove = new Map<number, string>();
    const add = [...plan.missing];
    const same = [...plan.same];
    const seen = new Map<number, GaneshaExportInfo>();
    // 1. ids listed under another path (or not wanted): DisplayExport says whose export it is
    await eachLimited(plan.other, DBUS_PARALLEL, async (o) => {
      if (s.lost) return;
      const w = want.get(o.id);
      const shown = await bus.displayExport(o.id);
      if (!shown.ok) return s.fail(w?.path ?? o.path, shown.failure, shown.command);
      if (!shown.value) {
        if (w) add.push(w); // gone since the list
        return;
      }
      const verdict = judgeShownExport(shown.value, w, ours);
      if (verdict === 'same') {
        seen.set(o.id, shown.value);
        same.push(w!);
      } else if (verdict === 'remove') {
        remove.set(o.id, shown.value.path);
        if (w) add.push(w);
      } else if (w) {
        s.errors.set(w.path, new Error(`Ganesha's Export_Id ${o.id} is ${shown.value.path}, which is not pxebootd's: not replacing it with ${w.path}`));
      }
    });
    if (s.lost) return s.done();
    // 2. clients: only this batch's live entries are checked. They are the ones a caller is about to
    // call ready (config last: the node's own IP must be able to mount); the rest of the set was
    // listed with its Export_Id and path, and an entry's client changes only with a want that puts
    // it in a batch's live set. At start-up the restore re-wants every ready node, so that batch
    // checks them all; later full syncs check only the nodes they serve (one call each).
    const liveByPath = new Map(live.map((e) => [e.path, e]));
    await eachLimited(same.filter((e) => liveByPath.get(e.path) === e), DBUS_PARALLEL, async (e) => {
      if (s.lost) return;
      let info = seen.get(e.fsid);
      if (!info) {
        const shown = await bus.displayExport(e.fsid);
        if (!shown.ok) return s.fail(e.path, shown.failure, shown.command);
        if (!shown.value) return void add.push(e);
        info = shown.value;
      }
      if (exportedAs(info, e)) return;
      if (info.path !== e.path) {
        s.errors.set(e.path, new Error(`Ganesha's Export_Id ${e.fsid} is ${info.path}, not ${e.path}`));
        return;
      }
      remove.set(e.fsid, e.path); // ours, for another client: replaced
      add.push(e);
    });
    if (s.lost) return s.done();
    // 3. RemoveExport what is ours and not wanted (each confirmed by DisplayExport above), then AddExport
    await eachLimited([...remove], DBUS_PARALLEL, async ([id, p]) => {
      if (s.lost) return;
      const r = await bus.removeExport(id);
      if (!r.ok) s.fail(want.get(id)?.path ?? p, r.failure, r.command); // a wanted entry waits on this id
    });
    if (s.lost) return s.done();
    await eachLimited(add.filter((e) => !s.errors.has(e.path)), DBUS_PARALLEL, async (e) => {
      if (!s.lost) await s.add(e);
    });
    if (s.lost) return s.done();
    log.info({ listed: listed.value.length, added: add.length, removed: remove.size, live: liveByPath.size }, `Ganesha's exports reconciled over DBus (no SIGHUP): ${add.length} added, ${remove.size} removed`);
    return s.done();
  };
  return backend;
}

/** DisplayExport shows `e`'s path with `e`'s IP among its clients. */
function exportedAs(info: GaneshaExportInfo, e: ExportEntry): boolean {
  return info.path === e.path && info.clients.some((c) => clientIsIp(c, e.ip));
}

/** Run `fn` on every item, at most `max` at a time. */
async function eachLimited<T>(items: readonly T[], max: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(max, items.length) }, worker));
}

/** SIGHUP the Ganesha named by the pid file, after checking the PID really is ganesha.nfsd. */
export async function signalGanesha(pidFile: string | undefined, log: Logger): Promise<number> {
  if (!pidFile) throw new Error('exports.pid_file is not set: the ganesha backend needs it to send SIGHUP');
  // a FIFO at the configured path must not hold a pool thread (and every later reload) for ever
  const raw = await readRegular(pidFile, 4096, 'a pid file').then((b) => b.toString('utf8'), (e: Error) => {
    throw new Error(`cannot read Ganesha pid file ${pidFile}: ${e.message} (is ganesha.nfsd running with -p ${pidFile}?)`);
  });
  const pid = Number(raw.trim());
  if (!Number.isInteger(pid) || pid <= 1) throw new Error(`Ganesha pid file ${pidFile}: expected a PID, found ${JSON.stringify(raw.slice(0, 40))}`);
  const comm = (await readFile(`/proc/${pid}/comm`, 'utf8').catch(() => '')).trim();
  if (!comm.startsWith('ganesha')) throw new Error(`Ganesha pid file ${pidFile} names PID ${pid}, which is ${comm ? `"${comm}"` : 'not running'}, not ganesha.nfsd`);
  process.kill(pid, 'SIGHUP');
  log.info({ pid, pidFile }, `sent SIGHUP to ganesha.nfsd (pid ${pid}) to reload exports`);
  return pid;
}
