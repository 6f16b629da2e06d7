// fsids rebuilt from what the NFS server was told: when state.json or fsids.json is lost (or older
// than the exports), each node must get back the fsid its clients' file handles embed. The source
// is pxebootd's own exports file (kernel drop-in or Ganesha EXPORT blocks) or, when that has none,
// /var/lib/nfs/etab. Only entries that are ours are adopted: a path directly below a configured
// node_dir whose last component is a node name. The state files win over this source: a name or
// fsid they already hold is never reassigned.
import { READ_LIMITS, readRegularIfPresent } from '../safe-open.ts';
import type { Config } from '../types.ts';
import type { StateData } from './codec.ts';
import type { ExportEntry } from '../../provisioners/export-entry.ts';
import { parseKernelExports, scanEtab, type EtabEntry } from '../../provisioners/exports-kernel.ts';
import { GANESHA_MAX_ID, parseGaneshaExports } from '../../provisioners/exports-ganesha.ts';
import { checkManagedDir, nodeBelow } from '../../provisioners/paths.ts';

/** name -> fsid as one source tells it. */
export interface FsidSource {
  /** the file the fsids come from */
  from: string;
  /** adoptable fsids by node name */
  fsids: Map<string, number>;
  /** every fsid of ours the source holds, adoptable or not: the next new fsid must be above them */
  high: number;
  /** why an entry of ours was not adoptable (ambiguous), one line each */
  skipped: string[];
  /** the ambiguous entries themselves, with the line of `skipped` that explains each */
  ambiguous: Array<{ name: string; fsid: number; why: string }>;
}

/** What the daemon needs to find and read a source. */
export interface RecoverySources {
  backend: 'kernel' | 'ganesha';
  exportsFile: string;
  etab: string;
  /** the configured node_dirs (normalised) */
  nodeDirs: ReadonlySet<string>;
}

/** The sources named by a config; node_dirs that the provisioner would refuse are left out. */
export function recoverySources(config: Config): RecoverySources {
  const nodeDirs = new Set<string>();
  for (const r of [...config.subnets, ...config.hosts]) {
    if (r.node_dir === undefined) continue;
    try {
      nodeDirs.add(checkManagedDir('node_dir', r.node_dir));
    } catch {
      /* the provisioner logs it; nothing can be exported below it */
    }
  }
  return { backend: config.exports.backend, exportsFile: config.exports.file, etab: config.exports.etab, nodeDirs };
}

/**
 * Collect (name, fsid) pairs into a source. A name with two fsids, or an fsid on two names, is
 * ambiguous: none of those is adopted (each node gets a new fsid), but all count for `high`.
 */
function collect(from: string, pairs: Iterable<{ name: string; fsid: number }>, max: number): FsidSource {
  const byName = new Map<string, Set<number>>();
  const byFsid = new Map<number, Set<string>>();
  let high = 0;
  for (const { name, fsid } of pairs) {
    if (!Number.isInteger(fsid) || fsid < 1 || fsid > max) continue;
    high = Math.max(high, fsid);
    (byName.get(name) ?? byName.set(name, new Set()).get(name)!).add(fsid);
    (byFsid.get(fsid) ?? byFsid.set(fsid, new Set()).get(fsid)!).add(name);
  }
  const fsids = new Map<string, number>();
  const skipped: string[] = [];
  const ambiguous: FsidSource['ambiguous'] = [];
  for (const [name, set] of byName) {
    const [fsid] = set;
    let why: string;
    if (set.size > 1) why = `${name} has fsids ${[...set].join(', ')}`;
    else if (byFsid.get(fsid!)!.size > 1) why = `${name}: fsid ${fsid} is also on ${[...byFsid.get(fsid!)!].filter((n) => n !== name).join(', ')}`;
    else {
      fsids.set(name, fsid!);
      continue;
    }
    skipped.push(why);
    for (const f of set) ambiguous.push({ name, fsid: f, why });
  }
  return { from, fsids, high, skipped, ambiguous };
}

/** fsids from our own exports file's parsed entries (kernel lines or Ganesha blocks). */
export function fsidsFromExports(from: string, entries: readonly ExportEntry[], nodeDirs: ReadonlySet<string>, max = 0xffffffff): FsidSource {
  const pairs: Array<{ name: string; fsid: number }> = [];
  for (const e of entries) {
    const name = nodeBelow(e.path, nodeDirs);
    if (name !== undefined) pairs.push({ name, fsid: e.fsid });
  }
  return collect(from, pairs, max);
}

/** The fsid= option of an etab line, if any. */
export function etabFsid(options: string): number | undefined {
  const m = /(?:^|,)fsid=(\d{1,10})(?:,|$)/.exec(options);
  return m ? Number(m[1]) : undefined;
}

/** fsids from etab entries below our node_dirs (etab lists every export on the machine). */
export function fsidsFromEtab(from: string, entries: readonly EtabEntry[], nodeDirs: ReadonlySet<string>): FsidSource {
  const pairs: Array<{ name: string; fsid: number }> = [];
  for (const e of entries) {
    const name = nodeBelow(e.path, nodeDirs);
    const fsid = etabFsid(e.options);
    if (name !== undefined && fsid !== undefined) pairs.push({ name, fsid });
  }
  return collect(from, pairs, 0xffffffff);
}

/** The bytes of `file`, or none when it does not exist. */
async function readOrEmpty(file: string): Promise<Buffer> {
  return (await readRegularIfPresent(file, READ_LIMITS.tableBytes, 'a table recovery reads')) ?? Buffer.alloc(0);
}

/**
 * Read the best source: our exports file, or etab (kernel backend) when the file holds nothing of
 * ours. Undefined when neither has anything. Reading is all it does.
 */
export async function readFsidSource(s: RecoverySources): Promise<FsidSource | undefined> {
  if (s.nodeDirs.size === 0) return undefined;
  const text = (await readOrEmpty(s.exportsFile)).toString('utf8');
  const fromFile =
    s.backend === 'ganesha'
      ? fsidsFromExports(s.exportsFile, parseGaneshaExports(text).entries, s.nodeDirs, GANESHA_MAX_ID)
      : fsidsFromExports(s.exportsFile, parseKernelExports(text).entries, s.nodeDirs);
  if (fromFile.high > 0) return fromFile;
  if (s.backend !== 'kernel') return undefined;
  const etab = fsidsFromEtab(s.etab, scanEtab(await readOrEmpty(s.etab)), s.nodeDirs);
  return etab.high > 0 ? etab : undefined;
}

/** An entry of the source that the state files contradict. */
export interface Overruled {
  node: string;
  /** the fsid the source has for it */
  fsid: number;
  /** the node the state files give that fsid to, when it is another one */
  holder?: string;
  /** one line for the log */
  why: string;
}

/** What adopting a source did. */
export interface Adoption {
  data: StateData;
  /** names whose fsid came from the source */
  adopted: number;
  /** entries of the source that the state files contradict (the state files won) */
  overruled: Overruled[];
  /** ambiguous entries for nodes the state files do not know: those nodes get new fsids */
  skipped: string[];
}

/**
 * Add the source's fsids for names the state files do not know, unless the fsid is already some
 * other name's there (the state files win: they are written before an export goes live). The next
 * new fsid is raised above every fsid of ours in the source, adopted or not, so that no new node
 * can take one a client still holds.
 */
export function adoptFsids(d: StateData, src: FsidSource): Adoption {
  const holder = new Map<number, string>();
  for (const [name, fsid] of d.fsids) holder.set(fsid, name);
  const fsids = new Map(d.fsids);
  let adopted = 0;
  const overruled: Overruled[] = [];
  for (const [node, fsid] of src.fsids) {
    const have = fsids.get(node);
    const other = holder.get(fsid);
    if (have === fsid) continue;
    if (other !== undefined) overruled.push({ node, fsid, holder: other, why: `${node} is exported with fsid ${fsid}, which state gives to ${other}` });
    else if (have !== undefined) overruled.push({ node, fsid, why: `${node} is exported with fsid ${fsid} but has fsid ${have} in state` });
    else {
      fsids.set(node, fsid);
      holder.set(fsid, node);
      adopted++;
    }
  }
  // an ambiguous entry is never adopted, but one whose fsid state gives to another node is still
  // an export that holds that node's fsid
  const skipped = new Set<string>();
  for (const { name: node, fsid, why } of src.ambiguous) {
    const other = holder.get(fsid);
    if (other !== undefined && other !== node) overruled.push({ node, fsid, holder: other, why: `${node} is exported with fsid ${fsid}, which state gives to ${other}` });
    if (!d.fsids.has(node)) skipped.add(why);
  }
  const nextFsid = Math.max(d.nextFsid, src.high + 1);
  return { data: { ...d, fsids, nextFsid }, adopted, overruled, skipped: [...skipped] };
}
