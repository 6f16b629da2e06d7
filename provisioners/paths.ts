// Every path the provisioner touches for a node is built here, from a validated node name and
// admin-configured roots that pass a strict grammar, so that no path can break a mount option
// list, an exports line or a Ganesha block, or land outside its managed root.
import path from 'node:path';
import type { ResolvedRule } from '../src/types.ts';
import { isSafeNodeName, printable, safeJoin } from '../src/validate.ts';

/** Characters that would break `mount -o` (`,` `:` `=`), exports(5) lines or Ganesha strings. */
const UNSAFE_PATH_CHARS = /[\s,:=()#\\"'`$;&|<>*?[\]{}\x00-\x1f\x7f]/;

/** Where one node's overlay lives. */
export interface NodePaths {
  node: string;
  lower: string;
  /** overlay_dir/<NODE>: holds upper and work */
  layerDir: string;
  upper: string;
  work: string;
  /** node_dir/<NODE>: the overlay mount point, and the exported path */
  mountPoint: string;
  nodeDir: string;
}

/** Directories checkManagedDir passed, by what they are and their path (a few configured roots). */
const goodDirs = new Map<string, string>();

/** Refuse a configured directory that is relative, unnormalised or holds a separator character. */
export function checkManagedDir(what: string, p: string): string {
  const key = `${what}\0${p}`;
  const known = goodDirs.get(key);
  if (known !== undefined) return known;
  const norm = checkDir(what, p);
  if (goodDirs.size >= 256) goodDirs.clear(); // a bound: configs name a handful of roots
  goodDirs.set(key, norm);
  return norm;
}

function checkDir(what: string, p: string): string {
  if (!path.isAbsolute(p)) throw new Error(`${what}: expected an absolute path, found ${JSON.stringify(printable(p))}`);
  const norm = path.resolve(p);
  if (norm === '/') throw new Error(`${what}: "/" cannot be a managed directory`);
  if (UNSAFE_PATH_CHARS.test(norm)) {
    throw new Error(`${what}: ${JSON.stringify(printable(norm))} holds a character that is not allowed in mount options or export lines (whitespace , : = ( ) # \\ quotes shell metacharacters)`);
  }
  return norm;
}

/** The node an export path belongs to when it is <node_dir>/<NODE> for one of `nodeDirs`: the one test of "this export is pxebootd's" (recovery, the Ganesha sync). */
export function nodeBelow(p: string, nodeDirs: ReadonlySet<string>): string | undefined {
  const name = path.basename(p);
  return nodeDirs.has(path.dirname(p)) && isSafeNodeName(name) ? name : undefined;
}

/** Refuse a node name that did not come from a validated IP or MAC. */
export function checkNodeName(node: string): string {
  if (!isSafeNodeName(node)) throw new Error(`node name ${JSON.stringify(printable(node))} is not a hex IP or hyphenated MAC`);
  return node;
}

/** node_dir/<NODE>, overlay_dir/<NODE>/{upper,work}, root_dir: all checked. */
export function nodePaths(node: string, rule: Pick<ResolvedRule, 'root_dir' | 'node_dir' | 'overlay_dir'>): NodePaths {
  checkNodeName(node);
  const lower = checkManagedDir('root_dir', rule.root_dir);
  const nodeDir = checkManagedDir('node_dir', rule.node_dir);
  const overlayDir = checkManagedDir('overlay_dir', rule.overlay_dir);
  const layerDir = safeJoin(overlayDir, node);
  return {
    node,
    lower,
    layerDir,
    upper: safeJoin(layerDir, 'upper'),
    work: safeJoin(layerDir, 'work'),
    mountPoint: safeJoin(nodeDir, node),
    nodeDir,
  };
}
