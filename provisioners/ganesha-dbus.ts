// NFS-Ganesha's export manager over the system bus (org.ganesha.nfsd, /org/ganesha/nfsd/ExportMgr,
// org.ganesha.nfsd.exportmgr), through `dbus-send` run by the Runner: add one export from a small
// file, remove one by Export_Id, look one up, list them all. Each call is answered, so unlike SIGHUP the caller
// knows the change happened. The parsers are pure; dbus-send prints replies as typed lines
// (`   string "1 exports added"`) and failures as `Error <name>: <message>` on stderr.
import type { Runner } from '../src/runner.ts';

export const GANESHA_BUS_NAME = 'org.ganesha.nfsd';
const OBJECT = '/org/ganesha/nfsd/ExportMgr';
const IFACE = 'org.ganesha.nfsd.exportmgr';

/**
 * Names that mean "nobody to talk to" (no bus, Ganesha not on it, not allowed, no export manager):
 * the caller falls back to SIGHUP. Any other error is Ganesha refusing this one change.
 */
const UNREACHABLE = new Set([
  'org.freedesktop.DBus.Error.ServiceUnknown',
  'org.freedesktop.DBus.Error.NameHasNoOwner',
  'org.freedesktop.DBus.Error.AccessDenied',
  'org.freedesktop.DBus.Error.NoServer',
  'org.freedesktop.DBus.Error.Disconnected',
  'org.freedesktop.DBus.Error.UnknownObject',
  'org.freedesktop.DBus.Error.UnknownInterface',
  'org.freedesktop.DBus.Error.UnknownMethod',
  'org.freedesktop.DBus.Error.FileNotFound',
]);

/** What went wrong with one call. */
export interface DbusFailure {
  /** the DBus error name, when the call reached a bus */
  name?: string;
  message: string;
  /** no Ganesha export manager to talk to (see UNREACHABLE) */
  unreachable: boolean;
}

/** dbus-send's stderr (and exit code / spawn error) as a DbusFailure. */
export function parseDbusSendError(stderr: string): DbusFailure {
  const text = stderr.trim();
  const m = /^Error ([A-Za-z0-9_.]+): ([^\n]*)/m.exec(text);
  if (!m) return { message: text.split('\n')[0] || 'dbus-send failed without a message', unreachable: true }; // "Failed to open connection to "system" message bus: ..."
  return { name: m[1]!, message: m[2]!, unreachable: UNREACHABLE.has(m[1]!) };
}

/** The string values of a `--print-reply` output, in order. */
export function replyStrings(stdout: string): string[] {
  const out: string[] = [];
  for (const line of stdout.split('\n')) {
    const m = /^\s*string "(.*)"$/.exec(line);
    if (m) out.push(m[1]!);
  }
  return out;
}

/** AddExport's answer ("1 exports added") as the number added; undefined when it says something else. */
export function parseAddReply(stdout: string): number | undefined {
  const m = /^(\d+) exports? added/.exec(replyStrings(stdout)[0] ?? '');
  return m ? Number(m[1]) : undefined;
}

/** DisplayExport(q) → (q id, s fullpath, s pseudopath, s tag, a(s...) clients). */
export interface GaneshaExportInfo {
  id: number;
  path: string;
  pseudo: string;
  /** client specs as Ganesha shows them, e.g. "10.0.0.5/32" */
  clients: string[];
}

export function parseDisplayExport(stdout: string): GaneshaExportInfo | undefined {
  const id = /^\s*uint16 (\d+)$/m.exec(stdout);
  const s = replyStrings(stdout);
  if (!id || s.length < 3) return undefined;
  return { id: Number(id[1]), path: s[0]!, pseudo: s[1]!, clients: s.slice(3) };
}

/** One export as ShowExports lists it: Export_Id and the path Ganesha shows for it. */
export interface GaneshaShownExport {
  id: number;
  /** the export's Path (its Pseudo when Ganesha runs with mount_path_pseudo): confirm with DisplayExport */
  path: string;
}

/**
 * ShowExports → ((tt) timestamp, a(qs(…)(tt)) exports): each export is a struct whose first two
 * members are `uint16 <Export_Id>` and `string "<path>"` at the same depth, followed by per-protocol
 * (sb) structs and a (tt) timestamp. Export_Id 0 (the NFSv4 pseudo root) is listed too. Undefined
 * when the text is not such a reply (no `array [`), so a garbled answer is never read as "none".
 */
export function parseShowExports(stdout: string): GaneshaShownExport[] | undefined {
  if (!/^method return /m.test(stdout) || !/^\s*array \[$/m.test(stdout)) return undefined;
  const out: GaneshaShownExport[] = [];
  const re = /^( +)uint16 (\d+)\n\1string "(.*)"$/gm;
  for (let m = re.exec(stdout); m; m = re.exec(stdout)) out.push({ id: Number(m[2]), path: m[3]! });
  return out;
}

/** Does a client spec from DisplayExport name exactly this one address? */
export function clientIsIp(spec: string, ip: string): boolean {
  return spec === ip || spec === `${ip}/32`;
}

export type DbusResult<T> = { ok: true; value: T } | { ok: false; failure: DbusFailure; command: string };

/** The calls pxebootd makes. */
export interface GaneshaDbus {
  /** AddExport(conf, "EXPORT(Export_Id=id)"): value is how many exports Ganesha says it added */
  addExport(confFile: string, id: number): Promise<DbusResult<number | undefined>>;
  removeExport(id: number): Promise<DbusResult<void>>;
  /** value undefined: no export with this id */
  displayExport(id: number): Promise<DbusResult<GaneshaExportInfo | undefined>>;
  /** every export Ganesha serves (one call, its reply grows with the export count) */
  showExports(): Promise<DbusResult<GaneshaShownExport[]>>;
}

/** Calls through `dbusSend` (dbus-send(1)) on the system bus (DBUS_SYSTEM_BUS_ADDRESS or the default socket). */
export function createGaneshaDbus(runner: Runner, dbusSend: string, timeoutMs = 20_000): GaneshaDbus {
  const call = async (method: string, args: string[], mutating: boolean) => {
    const argv = [dbusSend, '--system', '--print-reply', `--reply-timeout=${timeoutMs}`, `--dest=${GANESHA_BUS_NAME}`, OBJECT, `${IFACE}.${method}`, ...args];
    const r = await runner.run(argv, { mutating, allowFailure: true, timeoutMs: timeoutMs + 5000 });
    return r;
  };
  const fail = (r: { stderr: string; command: string }) => ({ ok: false as const, failure: parseDbusSendError(r.stderr), command: r.command });
  return {
    async addExport(confFile, id) {
      const r = await call('AddExport', [`string:${confFile}`, `string:EXPORT(Export_Id=${id})`], true);
      return r.exitCode === 0 ? { ok: true, value: r.skipped ? 1 : parseAddReply(r.stdout) } : fail(r);
    },
    async removeExport(id) {
      const r = await call('RemoveExport', [`uint16:${id}`], true);
      return r.exitCode === 0 ? { ok: true, value: undefined } : fail(r);
    },
    async displayExport(id) {
      const r = await call('DisplayExport', [`uint16:${id}`], false);
      if (r.exitCode === 0) return { ok: true, value: parseDisplayExport(r.stdout) };
      const f = parseDbusSendError(r.stderr);
      // Ganesha answers an unknown id with InvalidArgs "lookup_export failed with Export id not found"
      if (f.name === 'org.freedesktop.DBus.Error.InvalidArgs' && /not found/i.test(f.message)) return { ok: true, value: undefined };
      return { ok: false, failure: f, command: r.command };
    },
    async showExports() {
      const r = await call('ShowExports', [], false);
      if (r.exitCode !== 0) return fail(r);
      const list = parseShowExports(r.stdout);
      if (list) return { ok: true, value: list };
      return { ok: false, failure: { message: `expected a ShowExports reply (a timestamp and an array of exports), got ${JSON.stringify(r.stdout.slice(0, 120))}`, unreachable: false }, command: r.command };
    },
  };
}
