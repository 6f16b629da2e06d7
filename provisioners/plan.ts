// The pure plan for one node (what `explain` and `--dry-run` print) and for its release:
// overlay, then export, then boot files — config last.
import type { NodePlan, PlanStep, ReleasePlan } from '../src/contracts.ts';
import type { Config, MountMethod, NodeRecord, ReleasePolicy, ResolvedRule } from '../src/types.ts';
import { safeJoin } from '../src/validate.ts';
import { planBootFiles, type BootFileSpec } from './boot-files.ts';
import type { ExportEntry } from './export-entry.ts';
import { buildGaneshaBlock } from './exports-ganesha.ts';
import { buildExportLine } from './exports-kernel.ts';
import { planOverlay } from './overlay.ts';
import { checkManagedDir, nodePaths, type NodePaths } from './paths.ts';

/** A NodePlan plus the typed pieces apply needs. */
export interface FullPlan extends NodePlan {
  paths: NodePaths;
  entry: ExportEntry;
  specs: BootFileSpec[];
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

function exportSteps(config: Config, entry: ExportEntry, line: string): PlanStep[] {
  const file = config.exports.file;
  if (config.exports.backend === 'ganesha') {
    return [
      { op: 'export', path: entry.path, fsid: entry.fsid, describe: `add to ${file}: ${line.replace(/\n/g, ' ')}` },
      { op: 'reload', describe: `kill -HUP $(cat ${config.exports.pid_file ?? '(exports.pid_file unset)'})  # batched with other nodes` },
    ];
  }
  return [
    { op: 'export', path: entry.path, fsid: entry.fsid, describe: `add to ${file}: ${line}` },
    { op: 'reload', describe: `${config.commands.exportfs} -r  # batched with other nodes; then check ${config.exports.etab} for ${entry.path} ${entry.ip} fsid=${entry.fsid}` },
  ];
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

/** Pure: everything provision() would do for this node. Throws on unsafe names or paths. */
export function planNode(node: NodeRecord, rule: ResolvedRule, config: Config, mountMethod: MountMethod = 'command'): FullPlan {
  const paths = nodePaths(node.name, rule);
  const entry = exportEntryFor(node, paths, config);
  const exportEntry = renderEntry(config, entry);
  const specs = planBootFiles(node, rule, config);
  const steps = [...planOverlay(paths, { method: mountMethod, cmd: config.commands.mount }, rule.overlay === 'ephemeral'), ...exportSteps(config, entry, exportEntry), ...planBootSteps(specs)];
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

/** Pure: what release() does under each policy (boot files first, then the export, then the mount). */
export function planNodeRelease(node: NodeRecord, rule: ResolvedRule, config: Config, policy: ReleasePolicy, mountMethod: MountMethod = 'command'): ReleasePlan {
  const full = planNode(node, rule, config, mountMethod);
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
