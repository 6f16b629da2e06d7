// Per-node overlayfs root: the exact mount command, and the check that the mount the kernel made
// is the one we asked for (nfs_export=on can silently fall back to off; see formats.md §1.1).
import path from 'node:path';
import type { PlanStep } from '../src/contracts.ts';
import type { MountMethod } from '../src/types.ts';
import { formatCommand } from '../src/runner.ts';
import type { MountEntry } from './mountinfo.ts';
import type { NodePaths } from './paths.ts';

/**
 * Modes of what we create. node_dir/<NODE> and upper are 0755 because the upper root's mode
 * becomes the client's `/`; work is 0700 because it is overlayfs scratch space nobody else reads;
 * overlay_dir/<NODE> is 0700 so only root can reach a node's writable layer from the server.
 */
export const DIR_MODES = { layerDir: 0o700, upper: 0o755, work: 0o700, mountPoint: 0o755 } as const;

/** lowerdir/upperdir/workdir plus index=on,nfs_export=on (never an upper without the index). */
export function overlayOptions(p: NodePaths): string {
  return `lowerdir=${p.lower},upperdir=${p.upper},workdir=${p.work},index=on,nfs_export=on`;
}

/** The mount argv, through config.commands.mount. */
export function mountArgv(mountCmd: string, p: NodePaths): string[] {
  return [mountCmd, '-t', 'overlay', 'overlay', '-o', overlayOptions(p), p.mountPoint];
}

/**
 * Plan steps for the overlay, given what is mounted at its point now: already ours, a check only;
 * someone else's, a refusal; else directories, mount and the mountinfo check. `fresh` (ephemeral,
 * not exported) unmounts our overlay first and deletes upper and work.
 */
export function planOverlay(p: NodePaths, mount: { method: MountMethod; cmd: string; umount?: string }, o: { fresh: boolean; current: MountCheck }): PlanStep[] {
  const cur = o.current;
  if (cur.kind === 'conflict' || cur.kind === 'no-export') {
    const reason = `${cur.reason}; not reusing it (unmount it by hand if it is stale)`;
    return [{ op: 'refuse', path: p.mountPoint, reason, describe: `stop: ${reason}` }];
  }
  if (cur.kind === 'ours' && !o.fresh) {
    return [{ op: 'verify-mount', path: p.mountPoint, describe: `already mounted: overlay at ${p.mountPoint} with these layers and nfs_export=on (seen in /proc/self/mountinfo)` }];
  }
  const mode = (m: number) => `0${m.toString(8)}`;
  const steps: PlanStep[] = [];
  if (cur.kind === 'ours') {
    const how = mount.method === 'syscall' ? `umount ${p.mountPoint}  (as umount2(2) inside pxebootd)` : `${mount.umount ?? 'umount'} ${p.mountPoint}`;
    steps.push({ op: 'umount', path: p.mountPoint, describe: `${how}  (ephemeral, not exported: its layer is made fresh)` });
  }
  if (o.fresh) {
    steps.push({ op: 'reset-layer', path: p.layerDir, describe: `ephemeral, not exported (first boot, or a boot after release): rm -rf ${p.upper} ${p.work}` });
  }
  steps.push({ op: 'mkdir', path: p.upper, mode: DIR_MODES.upper, describe: `mkdir -p ${p.layerDir} (${mode(DIR_MODES.layerDir)}) ${p.upper} (${mode(DIR_MODES.upper)}) ${p.work} (${mode(DIR_MODES.work)}) ${p.mountPoint} (${mode(DIR_MODES.mountPoint)})` });
  const argv = mountArgv(mount.method === 'syscall' ? 'mount' : mount.cmd, p);
  const how = mount.method === 'syscall' ? '  (as mount(2) inside pxebootd)' : '';
  steps.push({ op: 'mount', argv, path: p.mountPoint, describe: formatCommand(argv) + how });
  steps.push({ op: 'verify-mount', path: p.mountPoint, describe: `check /proc/self/mountinfo: overlay at ${p.mountPoint} with these layers and nfs_export=on (else umount and fail)` });
  return steps;
}

/** What is at a node's mount point now. */
export type MountCheck =
  | { kind: 'absent' }
  | { kind: 'ours' }
  /** our layers, but the kernel did not enable nfs_export (or index) */
  | { kind: 'no-export'; reason: string }
  | { kind: 'conflict'; reason: string };

/**
 * Compare a mountinfo entry with the overlay this node needs. A mount through descriptors shows
 * its layers as the kernel resolves them, so `real` (p's upper and work with overlay_dir's symlinks
 * resolved, when it has any) is accepted too.
 */
export function checkOverlayMount(entry: MountEntry | undefined, p: NodePaths, real?: Pick<NodePaths, 'upper' | 'work'>): MountCheck {
  if (!entry) return { kind: 'absent' };
  if (entry.fstype !== 'overlay') {
    return { kind: 'conflict', reason: `${p.mountPoint} has a ${entry.fstype} mount (${entry.source}), expected our overlay` };
  }
  const o = entry.superOptions;
  const want: Array<[string, string, string?]> = [
    ['lowerdir', p.lower],
    ['upperdir', p.upper, real?.upper],
    ['workdir', p.work, real?.work],
  ];
  const bad = want.filter(([k, v, alt]) => {
    const got = o.get(k);
    if (got === undefined) return true;
    if (got === v || got === alt) return false; // v and alt are normal paths: resolving got changes nothing
    const resolved = path.resolve(got);
    return resolved !== v && resolved !== alt;
  });
  if (bad.length) {
    const found = bad.map(([k]) => `${k}=${o.get(k) ?? '(none)'}`).join(',');
    const wanted = bad.map(([k, v]) => `${k}=${v}`).join(',');
    return { kind: 'conflict', reason: `${p.mountPoint} is an overlay of other layers: expected ${wanted}, found ${found}` };
  }
  if (o.get('nfs_export') !== 'on' || o.get('index') !== 'on') {
    return {
      kind: 'no-export',
      reason: `${p.mountPoint} is mounted without nfs_export=on/index=on (found nfs_export=${o.get('nfs_export') ?? 'off'}, index=${o.get('index') ?? 'off'}); the kernel falls back silently when a layer lacks file handles or the lower fs UUID is null or conflicting — see dmesg`,
    };
  }
  return { kind: 'ours' };
}
