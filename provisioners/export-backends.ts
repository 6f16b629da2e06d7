// The I/O half of each exports backend: how to make the rendered file live and how to tell
// which entries really are. Kernel: `exportfs -r`, then /var/lib/nfs/etab; once one `exportfs -r`
// has shown how it writes our lines, a few nodes' changes are applied to etab directly (apply),
// which costs the same at 10 or 10,000 exports. Ganesha: SIGHUP to the pid in exports.pid_file
// re-reads every EXPORT block (its cost grows with their number, and it is not acknowledged);
// once a SIGHUP has loaded our file, a few nodes' changes go over DBus instead (apply): AddExport
// from a one-block file, RemoveExport by Export_Id, each answered by Ganesha.
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
import { clientIsIp, createGaneshaDbus, type DbusFailure, type GaneshaDbus } from './ganesha-dbus.ts';
import { writeFileAtomic } from '../src/atomic-file.ts';
import { createLineChunkReader } from './line-chunks.ts';
import { readRegular } from '../src/safe-open.ts';

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
}

/** A backend's rendering as one string (small sets: start-up comparison, orphan lines). */
export function renderedText(backend: Pick<ExportBackend, 'render'>, entries: Iterable<ExportEntry>): string {
  const r = backend.render(entries);
  return typeof r === 'string' ? r : [...r].join('');
}

/** The backend named by exports.backend. */
export function createExportBackend(config: Config, runner: Runner, log: Logger): ExportBackend {
  return config.exports.backend === 'ganesha' ? ganeshaBackend(config, runner, log) : kernelBackend(config, runner, log);
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

function ganeshaBackend(config: Config, runner: Runner, log: Logger): ExportBackend {
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
  backend.apply = async (put, drop, live, gone) => {
    const errors = new Map<string, Error>();
    let lost: DbusFailure | undefined;
    let lostCmd = '';
    const gave = (f: DbusFailure, command: string) => {
      if (f.unreachable && !lost) {
        lost = f;
        lostCmd = command;
      }
      return f.unreachable;
    };
    // 1. drops: only an Export_Id that Ganesha shows with our path is removed (own only what is ours)
    await eachLimited(drop, DBUS_PARALLEL, async (e) => {
      if (lost) return;
      const shown = await bus.displayExport(e.fsid);
      if (!shown.ok) {
        if (!gave(shown.failure, shown.command)) errors.set(e.path, new Error(`${shown.command}: ${shown.failure.message}`));
        return;
      }
      if (!shown.value) return; // already gone
      if (shown.value.path !== e.path) {
        errors.set(e.path, new Error(`Ganesha's Export_Id ${e.fsid} is ${shown.value.path}, not ${e.path}: not removing it`));
        return;
      }
      const r = await bus.removeExport(e.fsid);
      if (!r.ok && !gave(r.failure, r.command)) errors.set(e.path, new Error(`${r.command}: ${r.failure.message}`));
    });
    if (lost) return noBus(lost, lostCmd);
    // 2. puts: one EXPORT block per file, so Ganesha parses one block, not all of ours
    await eachLimited(put, DBUS_PARALLEL, async (e) => {
      if (lost) return;
      const file = path.join(addDir, `${e.node}.conf`);
      try {
        await writeFileAtomic(file, buildGaneshaBlock(e), { mode: 0o644, mkdirp: true, noSync: true });
        const r = await bus.addExport(file, e.fsid);
        if (!r.ok) {
          if (!gave(r.failure, r.command)) errors.set(e.path, new Error(`${r.command}: ${r.failure.message}`));
        } else if (r.value !== 1) {
          errors.set(e.path, new Error(`Ganesha added ${r.value ?? 'an unknown number of'} exports from ${file}, expected 1`));
        }
      } finally {
        await unlink(file).catch(() => {});
      }
    });
    if (lost) return noBus(lost, lostCmd);
    // 3. entries in this batch that did not change: ask Ganesha that they are exported as ours
    const putPaths = new Set(put.map((e) => e.path));
    await eachLimited(live.filter((e) => !putPaths.has(e.path) && !errors.has(e.path)), DBUS_PARALLEL, async (e) => {
      if (lost) return;
      const shown = await bus.displayExport(e.fsid);
      if (!shown.ok) {
        if (!gave(shown.failure, shown.command)) errors.set(e.path, new Error(`${shown.command}: ${shown.failure.message}`));
      } else if (!shown.value) errors.set(e.path, new Error(`Ganesha has no export with Export_Id ${e.fsid} for ${e.path}`));
      else if (shown.value.path !== e.path || !shown.value.clients.some((c) => clientIsIp(c, e.ip))) {
        errors.set(e.path, new Error(`Ganesha's Export_Id ${e.fsid} is ${shown.value.path} for ${shown.value.clients.join(', ') || 'no client'}, expected ${e.path} for ${e.ip}`));
      }
    });
    if (lost) return noBus(lost, lostCmd);
    void gone; // every gone entry was a drop: removed above or already absent
    if (unreachable !== undefined) log.info('Ganesha answers over DBus again: export changes are applied one by one');
    unreachable = undefined;
    return errors;
  };
  return backend;
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
