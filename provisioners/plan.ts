// Step 5 of the pipeline (watcher -> inbox -> decide -> queue -> job -> PLANNODE -> applyPlan -> record).
// The pure plan for one node (what `explain` and `--dry-run` print) and for its release:
// overlay, then export, then boot files — config last. A node's plan is made against what is in
// place for it now (its mount, its export: NodeCurrent, observed at the edge by observe.ts), so a
// step already done is left out or becomes a check.
import type { NodePlan, PlanStep, ReleasePlan } from '../src/contracts.ts';
import type { Config, MountMethod, NodeRecord, ReleasePolicy, ResolvedRule } from '../src/types.ts';
import { safeJoin } from '../src/validate.ts';
import { planBootFiles, type BootFileSpec } from './boot-files.ts';
import { sameEntry, type ExportEntry } from './export-entry.ts';
import { buildGaneshaBlock } from './exports-ganesha.ts';
import { buildExportLine } from './exports-kernel.ts';
import { planOverlay, type MountCheck } from './overlay.ts';
import { checkManagedDir, nodePaths, type NodePaths } from './paths.ts';

/** What a node's plan is made from besides its steps: its paths, its export and its boot files. */
export interface NodeTargets {
  paths: NodePaths;
  entry: ExportEntry;
  specs: BootFileSpec[];
}

/** A NodePlan plus the typed pieces apply needs. */
export interface FullPlan extends NodePlan, NodeTargets {}

/** What is in place for a node now, so planNode can leave out what is done (observed by observe.ts). */
export interface NodeCurrent {
  /** what is mounted at the node's mount point, judged against its layers */
  mount: MountCheck;
  /** the node's entry in our exports file (the export batcher's set): none, as planned, or another one (IP, fsid or pseudo path changed) */
  export: 'absent' | 'same' | 'changed';
}

/** Nothing mounted, nothing exported: a node seen for the first time. */
export const NOTHING_IN_PLACE: NodeCurrent = Object.freeze({ mount: Object.freeze({ kind: 'absent' as const }), export: 'absent' as const });

/** How planNode plans beyond the node and its current state. */
export interface PlanOptions {
  /** how the overlay is mounted (default: commands.mount) */
  mountMethod?: MountMethod;
  /**
   * start-up (restore): the server may have lost every export (a reboot), so the export is made
   * and reloaded even when our file has it, and an ephemeral node keeps its layer (it was ready)
   */
  restore?: boolean;
}

/** {{nfs_path}}: the mount point (kernel), or the Ganesha Pseudo path. */
export function pseudoFor(config: Config, p: NodePaths): string | undefined {
  if (config.exports.backend !== 'ganesha' || !config.exports.pseudo_root) return undefined;
  return safeJoin(checkManagedDir('exports.pseudo_root', config.exports.pseudo_root), p.node);
}

/** The export of one node: its mount point, to its IP, with its fsid (and Pseudo for Ganesha). */
export function exportEntryFor(node: NodeRecord, p: NodePaths, config: Config): ExportEntry {
  const e: ExportEntry = { node: p.node, path: p.mountPoint, ip: node.ip, fsid: node.fsid };
  const pseudo = pseudoFor(config, p);
  if (pseudo !== undefined) e.pseudo = pseudo;
  return e;
}

/** The exports line (kernel) or EXPORT block (ganesha) for this entry. */
export function renderEntry(config: Config, e: ExportEntry): string {
  return config.exports.backend === 'ganesha' ? buildGaneshaBlock(e).trimEnd() : buildExportLine(e, config.exports.options);
}

/** The export's steps: add (or replace) and reload; a check when our file has it as planned; forced at restore. */
function exportSteps(config: Config, entry: ExportEntry, line: string, current: NodeCurrent['export'], restore: boolean): PlanStep[] {
  const file = config.exports.file;
  const ganesha = config.exports.backend === 'ganesha';
  const shown = ganesha ? line.replace(/\n/g, ' ') : line;
  const check = `check ${config.exports.etab} for ${entry.path} ${entry.ip} fsid=${entry.fsid}`;
  if (current === 'same' && !restore) {
    const describe = ganesha
      ? `already in ${file}: ${shown}  (no reload for it)`
      : `already in ${file}: ${shown}  (${check}; ${config.commands.exportfs} -r only if it is not there, batched with other nodes)`;
    return [{ op: 'verify-export', path: entry.path, fsid: entry.fsid, describe }];
  }
  const add = restore && current === 'same' ? `keep in ${file} and export again (the server may have restarted)` : current === 'changed' ? `replace the entry of ${entry.path} in ${file} with` : `add to ${file}`;
  const exp: PlanStep = { op: 'export', path: entry.path, fsid: entry.fsid, describe: `${add}: ${shown}` };
  if (restore) exp.force = true;
  if (ganesha) return [exp, { op: 'reload', describe: `kill -HUP $(cat ${config.exports.pid_file ?? '(exports.pid_file unset)'})  # batched with other nodes` }];
  return [exp, { op: 'reload', describe: `${config.commands.exportfs} -r  # batched with other nodes; then ${check}` }];
}

/** The write and link steps of these boot files (a boot-once selection's, or the rule's). */
export function planBootSteps(specs: BootFileSpec[]): PlanStep[] {
  const steps: PlanStep[] = [];
  for (const s of specs) {
    steps.push({ op: 'write', path: s.canonical, template: s.template, describe: `write ${s.canonical} from ${s.template} (temp file + rename)` });
    for (const l of s.links) steps.push({ op: 'link', path: l, target: s.canonical, describe: `ln -sfn ${s.canonical.slice(s.canonical.lastIndexOf('/') + 1)} ${l}  (temp link + rename)` });
  }
  return steps;
}

/** Pure: the node's paths, export entry and boot files. Throws on unsafe names or paths. */
export function nodeTargets(node: NodeRecord, rule: ResolvedRule, config: Config): NodeTargets {
  const paths = nodePaths(node.name, rule);
  return { paths, entry: exportEntryFor(node, paths, config), specs: planBootFiles(node, rule, config) };
}

/**
 * Pure: everything provision() (or, with `restore`, restore()) does for this node, given what is in
 * place for it now. Throws on unsafe names or paths. `targets` (from nodeTargets) saves making them again.
 */
export function planNode(node: NodeRecord, rule: ResolvedRule, config: Config, current: NodeCurrent, o: PlanOptions = {}, targets: NodeTargets = nodeTargets(node, rule, config)): FullPlan {
  const { paths, entry, specs } = targets;
  const exportEntry = renderEntry(config, entry);
  const mountMethod = o.mountMethod ?? 'command';
  // ephemeral: fresh layers whenever the node comes up while not exported (first boot, or a boot
  // after release); a ready, exported node is left alone (provisioning again changes nothing)
  const fresh = rule.overlay === 'ephemeral' && current.export === 'absent' && !o.restore;
  const overlay = planOverlay(paths, { method: mountMethod, cmd: config.commands.mount, umount: config.commands.umount }, { fresh, current: current.mount });
  const steps = [...overlay, ...exportSteps(config, entry, exportEntry, current.export, o.restore ?? false), ...planBootSteps(specs)];
  const plan: FullPlan = {
    node: node.name,
    ip: node.ip,
    fsid: node.fsid,
    steps,
    exportEntry,
    nfsPath: entry.pseudo ?? entry.path,
    bootFiles: specs.flatMap((s) => [s.canonical, ...s.links]),
    paths,
    entry,
    specs,
  };
  if (node.mac !== undefined) plan.mac = node.mac;
  return plan;
}

/** Pure: how our exports file's entry for this path compares with the planned one. */
export function exportState(inFile: ExportEntry | undefined, planned: ExportEntry): NodeCurrent['export'] {
  if (!inFile) return 'absent';
  return sameEntry(inFile, planned) ? 'same' : 'changed';
}

/** Pure: what release() does under each policy (boot files first, then the export, then the mount). */
export function planNodeRelease(node: NodeRecord, rule: ResolvedRule, config: Config, policy: ReleasePolicy, mountMethod: MountMethod = 'command'): ReleasePlan {
  const full = planNode(node, rule, config, NOTHING_IN_PLACE, { mountMethod });
  const steps: PlanStep[] = [];
  if (policy === 'keep') {
    steps.push({ op: 'keep', describe: `keep ${full.paths.mountPoint}, its export and boot files as they are` });
    return { node: node.name, policy, steps };
  }
  for (const s of full.specs) for (const f of [...s.links, s.canonical]) steps.push({ op: 'unlink', path: f, describe: `rm ${f}` });
  steps.push({ op: 'unexport', path: full.entry.path, describe: `remove ${full.entry.path} from ${config.exports.file}, then ${config.exports.backend === 'ganesha' ? 'SIGHUP ganesha' : `${config.commands.exportfs} -r`} (batched)` });
  if (policy === 'remove') {
    steps.push({ op: 'umount', path: full.paths.mountPoint, describe: mountMethod === 'syscall' ? `umount ${full.paths.mountPoint}  (as umount2(2) inside pxebootd)` : `${config.commands.umount} ${full.paths.mountPoint}` });
    steps.push({ op: 'wipe', path: full.paths.layerDir, describe: `rm -rf ${full.paths.layerDir}  (upper + work)` });
  }
  return { node: node.name, policy, steps };
}
