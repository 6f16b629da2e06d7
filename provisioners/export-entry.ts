// One node's export, backend-neutral, and the strict checks every export passes before it is
// rendered: the path under its node_dir with no separator characters, the client a single
// dotted-quad IPv4 address (never a network, wildcard or hostname), the fsid in range.
import path from 'node:path';
import { isIPv4, isNormalAbsolute, isSafeNodeName, printable } from '../src/validate.ts';

/** What we export for one node; `path` is node_dir/<NODE>, the key of the exports set. */
export interface ExportEntry {
  node: string;
  path: string;
  ip: string;
  fsid: number;
  /** ganesha: the NFSv4 pseudo path ({{nfs_path}}); kernel: unused */
  pseudo?: string;
}

/** Anything that could end a line, start a comment or options, quote, or escape. */
const BAD_PATH = /[\s()#\\"'`,;*?[\]{}<>|&$=\x00-\x1f\x7f]/;

/** Throws unless `p` is a clean absolute path (optionally directly below `under`). */
export function checkExportPath(p: string, under?: string): void {
  // the quoted copy for the message is made only when there is an error to report
  const shown = () => JSON.stringify(printable(p));
  if (!path.isAbsolute(p)) throw new Error(`export path ${shown()}: expected an absolute path`);
  if (!isNormalAbsolute(p)) throw new Error(`export path ${shown()}: expected a normalised path (no //, ., .. or trailing /)`);
  if (p.length > 1024) throw new Error(`export path ${printable(p, 60)}: longer than 1024 characters`);
  if (BAD_PATH.test(p)) throw new Error(`export path ${shown()}: holds whitespace, a control character or one of ( ) # \\ " ' \` , ; * ? [ ] { } < > | & $ =`);
  if (under !== undefined && path.dirname(p) !== under) throw new Error(`export path ${shown()}: expected a directory directly below ${under}`);
  if (!isSafeNodeName(p.slice(p.lastIndexOf('/') + 1))) throw new Error(`export path ${shown()}: the last component is not a node name`);
}

/** Throws unless `ip` is one dotted-quad IPv4 address: exports go to one client, never a range. */
export function checkClientIp(ip: string): void {
  if (!isIPv4(ip)) throw new Error(`export client ${JSON.stringify(printable(ip))}: expected one dotted-quad IPv4 address`);
  if (ip === '0.0.0.0' || ip === '255.255.255.255') throw new Error(`export client ${ip}: not a host address`);
}

/** fsid 0 is the NFSv4 root (kernel) / the pseudo root (Ganesha); Export_Id is 16-bit. */
export function checkFsid(fsid: number, max = 0xffffffff): void {
  if (!Number.isInteger(fsid) || fsid < 1 || fsid > max) throw new Error(`fsid ${String(fsid)}: expected an integer in 1..${max}`);
}

/** All of the above for one entry; the node name must be the path's last component. */
export function checkExportEntry(e: ExportEntry, opts: { maxFsid?: number } = {}): void {
  checkExportPath(e.path);
  if (path.basename(e.path) !== e.node) throw new Error(`export ${e.path}: node ${JSON.stringify(printable(e.node))} is not its last component`);
  checkClientIp(e.ip);
  checkFsid(e.fsid, opts.maxFsid);
  if (e.pseudo !== undefined) checkExportPath(e.pseudo);
}

/** Two nodes must never share an fsid (or an Export_Id): clients' file handles embed it. */
export function findFsidClash(entries: Iterable<ExportEntry>, candidate: ExportEntry): ExportEntry | undefined {
  for (const e of entries) if (e.fsid === candidate.fsid && e.path !== candidate.path) return e;
  return undefined;
}

/**
 * An exports file in pieces for writeFileAtomic: `header`, then the entries sorted by path (stable
 * output), `perPiece` of them rendered and joined per piece. At 10,000 nodes the file is ~1 MB and
 * a storm rewrites it once per batch, so it is never joined into one string. The entries are
 * sorted now; they are rendered (and checked, so an unsafe one fails the write) as pieces are taken.
 */
export function sortedPieces(header: string, entries: Iterable<ExportEntry>, perPiece: number, render: (e: ExportEntry) => string): Iterable<string> {
  const sorted = [...entries].sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  return (function* () {
    yield header;
    for (let i = 0; i < sorted.length; i += perPiece) yield sorted.slice(i, i + perPiece).map(render).join('');
  })();
}

/** Two entries that render and export the same (the batcher and planNode compare with it). */
export function sameEntry(a: ExportEntry, b: ExportEntry): boolean {
  return a.path === b.path && a.ip === b.ip && a.fsid === b.fsid && a.node === b.node && (a.pseudo ?? a.path) === (b.pseudo ?? b.path);
}
