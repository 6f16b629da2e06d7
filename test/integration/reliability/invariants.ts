// Checks shared by the reliability and pipeline tests: what our exports file, etab, mountinfo, the
// boot files and `status --json` say, and whether they agree. Each check returns a list of problems
// (empty = fine) so a failing round names every broken node at once.
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { BenchLab } from '../../../bench/lib/lab.ts';

/** A kernel exports line as pxebootd must write it: absolute path, one IPv4 client, safe options with fsid. */
export const EXPORT_LINE = /^(\/[A-Za-z0-9._/-]+)\s+(\d{1,3}(?:\.\d{1,3}){3})\(([A-Za-z0-9_=,:.@/+-]*\bfsid=(\d+)\b[A-Za-z0-9_=,:.@/+-]*)\)$/;

export interface ExportLine {
  path: string;
  ip: string;
  options: string;
  fsid: number;
}

/** Non-comment lines of our exports file; lines that break the grammar go to `bad`. */
export function readExports(file: string): { lines: ExportLine[]; bad: string[] } {
  const lines: ExportLine[] = [];
  const bad: string[] = [];
  if (!existsSync(file)) return { lines, bad };
  for (const raw of readFileSync(file, 'utf8').split('\n')) {
    if (raw.trim() === '' || raw.startsWith('#')) continue;
    const m = EXPORT_LINE.exec(raw);
    if (!m) bad.push(raw);
    else lines.push({ path: m[1]!, ip: m[2]!, options: m[3]!, fsid: Number(m[4]) });
  }
  return { lines, bad };
}

/** etab lines for paths under `under`: "path\tclient(options)". */
export function readEtab(under: string, etab = '/var/lib/nfs/etab'): ExportLine[] {
  const out: ExportLine[] = [];
  for (const raw of readFileSync(etab, 'utf8').split('\n')) {
    const m = /^(\S+)\t([^(]+)\((.*)\)$/.exec(raw);
    if (!m || !m[1]!.startsWith(under + '/')) continue;
    const f = /\bfsid=(\d+)/.exec(m[3]!);
    out.push({ path: m[1]!, ip: m[2]!, options: m[3]!, fsid: f ? Number(f[1]) : Number.NaN });
  }
  return out;
}

export interface MountEntry {
  mountPoint: string;
  fstype: string;
  superOptions: string;
}

/** Mounts at or under `under`, from /proc/self/mountinfo. */
export function readMounts(under: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (!line) continue;
    const [pre, post] = line.split(' - ');
    const f = pre!.split(' ');
    const mp = f[4]!.replace(/\\040/g, ' ');
    if (!(mp === under || mp.startsWith(under + '/'))) continue;
    const g = (post ?? '').split(' ');
    out.push({ mountPoint: mp, fstype: g[0] ?? '', superOptions: g[2] ?? '' });
  }
  return out;
}

export type StatusNode = { name: string; ip: string; mac?: string; state: string; fsid: number; lastError?: string; hostname?: string };

function dupes<T>(xs: T[]): T[] {
  const seen = new Set<T>();
  const d = new Set<T>();
  for (const x of xs) (seen.has(x) ? d : seen).add(x);
  return [...d];
}

/**
 * Every node in `nodes` is ready, with the fsid in `fsids` (when given), exactly one export line in
 * our file and in etab (kernel backend), exactly one overlay mount, and no mount or export line
 * that belongs to no ready node.
 */
export function checkConsistent(lab: BenchLab, nodes: StatusNode[], opts: { fsids?: Map<string, number>; etab?: boolean; bootFiles?: (n: StatusNode) => string[] } = {}): string[] {
  const problems: string[] = [];
  const ready = nodes.filter((n) => n.state === 'ready');
  for (const n of nodes) if (n.state !== 'ready') problems.push(`${n.name} (${n.ip}) is ${n.state}: ${n.lastError ?? ''}`);
  if (opts.fsids) {
    for (const n of nodes) {
      const want = opts.fsids.get(n.name);
      if (want !== undefined && want !== n.fsid) problems.push(`${n.name}: fsid changed from ${want} to ${n.fsid}`);
    }
  }
  const pathOf = (n: StatusNode) => path.join(lab.nodeDir, n.name);
  const byPath = new Map(ready.map((n) => [pathOf(n), n]));

  const ex = readExports(lab.exportsFile);
  for (const b of ex.bad) problems.push(`exports file: line breaks the grammar: ${JSON.stringify(b)}`);
  for (const d of dupes(ex.lines.map((l) => l.path))) problems.push(`exports file: ${d} listed more than once`);
  for (const l of ex.lines) {
    const n = byPath.get(l.path);
    if (!n) problems.push(`exports file: ${l.path} belongs to no ready node`);
    else if (l.ip !== n.ip || l.fsid !== n.fsid) problems.push(`exports file: ${l.path} has ${l.ip} fsid=${l.fsid}, state says ${n.ip} fsid=${n.fsid}`);
  }
  for (const p of byPath.keys()) if (!ex.lines.some((l) => l.path === p)) problems.push(`exports file: no line for ready node ${p}`);

  if (opts.etab !== false) {
    const et = readEtab(lab.nodeDir);
    for (const d of dupes(et.map((l) => `${l.path} ${l.ip}`))) problems.push(`etab: ${d} more than once`);
    for (const l of et) {
      const n = byPath.get(l.path);
      if (!n) problems.push(`etab: ${l.path} belongs to no ready node`);
      else if (l.ip !== n.ip || l.fsid !== n.fsid) problems.push(`etab: ${l.path} has ${l.ip} fsid=${l.fsid}, state says ${n.ip} fsid=${n.fsid}`);
    }
    for (const p of byPath.keys()) if (!et.some((l) => l.path === p)) problems.push(`etab: no line for ready node ${p}`);
  }

  const mounts = readMounts(lab.nodeDir);
  for (const d of dupes(mounts.map((m) => m.mountPoint))) problems.push(`mounts: ${d} mounted more than once`);
  for (const m of mounts) {
    if (!byPath.has(m.mountPoint)) problems.push(`mounts: orphan ${m.fstype} mount at ${m.mountPoint}`);
    else if (m.fstype !== 'overlay') problems.push(`mounts: ${m.mountPoint} is ${m.fstype}, not overlay`);
  }
  for (const p of byPath.keys()) if (!mounts.some((m) => m.mountPoint === p)) problems.push(`mounts: ready node ${p} is not mounted`);

  if (opts.bootFiles) for (const n of ready) for (const f of opts.bootFiles(n)) if (!existsSync(f)) problems.push(`boot file missing for ${n.name}: ${f}`);
  return problems;
}

/** Normalise `status --json` rows. */
export function toStatusNodes(rows: Array<Record<string, unknown>>): StatusNode[] {
  return rows.map((r) => ({
    name: String(r.name ?? r.node),
    ip: String(r.ip),
    mac: r.mac === undefined ? undefined : String(r.mac),
    hostname: r.hostname === undefined ? undefined : String(r.hostname),
    state: String(r.state),
    fsid: Number(r.fsid),
    lastError: r.lastError === undefined && r.last_error === undefined ? undefined : String(r.lastError ?? r.last_error),
  }));
}

/** Deterministic PRNG (xorshift32) so a failing round can be replayed from its seed. */
export { xorshiftFloat as xorshift } from '../../helpers/prng.ts';
