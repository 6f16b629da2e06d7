// Mounting and unmounting a node's overlay through the Mounter. What is mounted before is the
// plan's input (judgeMount, observe.ts); after a mount, the mountinfo check (nfs_export really on, else undo).
// The node's directories are opened without following links (layer-dirs.ts, or the same steps in
// the mount(2) addon's mountNode) and mounted through those descriptors; deleting a layer never
// follows a link either.
import { realpath, rmdir } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';
import { ConflictError, RunError } from '../src/errors.ts';
import { openLayerDirs, removeLayerDir } from './layer-dirs.ts';
import { carryUpper } from './layer-carry.ts';
import type { MountTable } from './mount-table.ts';
import type { MountEntry } from './mountinfo.ts';
import type { Mounter } from './mounter.ts';
import { checkOverlayMount, type MountCheck } from './overlay.ts';
import type { NodePaths } from './paths.ts';
import type { Limiter } from './limiter.ts';

/** What mounting needs: the Mounter (mount(2) or commands) and the mount table. */
export interface OverlayDeps {
  mounter: Mounter;
  table: MountTable;
  log: Logger;
  /** bounds concurrent mounts/umounts */
  spawns: Limiter;
}

/** p's upper and work with the symlinks of the configured overlay_dir resolved; undefined when it has none. */
async function realLayers(p: NodePaths): Promise<Pick<NodePaths, 'upper' | 'work'> | undefined> {
  const root = path.dirname(p.layerDir);
  const real = await realpath(root).catch(() => root);
  if (real === root) return undefined;
  return { upper: path.join(real, p.node, 'upper'), work: path.join(real, p.node, 'work') };
}

/** What is mounted at the node's point, judged against its layers (either spelling of them). */
async function checkMountPoint(deps: OverlayDeps, p: NodePaths): Promise<MountCheck> {
  return judgeMount((await deps.table.snapshot([p.mountPoint])).get(p.mountPoint), p);
}

/** What `entry` (the mount at p's point, if any) is to this node: either spelling of its layers is ours. */
export async function judgeMount(entry: MountEntry | undefined, p: NodePaths): Promise<MountCheck> {
  const check = checkOverlayMount(entry, p);
  // the kernel shows layers mounted by descriptor as resolved paths (only differs with a symlinked overlay_dir)
  if (check.kind !== 'conflict' || entry?.fstype !== 'overlay') return check;
  const real = await realLayers(p);
  return real ? checkOverlayMount(entry, p, real) : check;
}

/** Is the node's overlay mounted as we need it? Throws ConflictError for anything else at that point. */
export async function overlayState(deps: OverlayDeps, p: NodePaths): Promise<'absent' | 'ours'> {
  const check = await checkMountPoint(deps, p);
  if (check.kind === 'absent' || check.kind === 'ours') return check.kind;
  throw new ConflictError(`${check.reason}; not reusing it (unmount it by hand if it is stale)`);
}

/**
 * Mount the overlay onto a point the plan saw empty (provisioners/plan.ts), then check the mount
 * the kernel made: not ours (nfs_export off, say), it is unmounted again and this throws.
 */
export async function mountOverlay(deps: OverlayDeps, p: NodePaths): Promise<void> {
  const mountNode = deps.mounter.mountNode;
  const mount = () =>
    deps.spawns
      .run(async () => {
        // the directories and the mount in one call off the main thread, when the mounter can
        if (mountNode) return mountNode(p);
        // opened in the limiter, so a storm holds descriptors only for the mounts in flight
        const dirs = await openLayerDirs(p);
        try {
          await deps.mounter.mount(p, dirs);
        } finally {
          await dirs.close();
        }
      })
      .finally(() => deps.table.nudge());
  try {
    await mountRetryingInUse(deps, p, mount);
  } catch (e) {
    if (!isStaleOrigin(e)) throw e;
    // the lower layer was replaced under this upper (a root_dir rebuilt in place, then a restart):
    // the upper is carried onto it, as at an image switch with on_image_change: carry
    const r = await carryUpper(p);
    deps.log.warn(
      { node: p.node, lower: p.lower, upper: p.upper, stripped: r.stripped, entries: r.entries, index: r.index },
      `${p.lower} is not the lower layer ${p.upper} was made on (mount: stale file handle; it was replaced in place?): carried the upper onto it (removed the origin of ${r.stripped} of ${r.entries + 1} entries${r.index ? ' and the overlay index' : ''}; the node's own files, deletions and opaque directories stay), mounting again`,
    );
    await mountRetryingInUse(deps, p, mount);
  }
  const after = await checkMountPoint(deps, p);
  if (after.kind === 'ours') return;
  if (after.kind !== 'absent') {
    await deps.spawns.run(() => deps.mounter.umount(p.mountPoint));
  }
  throw new Error(after.kind === 'absent' ? `mount reported success but ${p.mountPoint} is not in /proc/self/mountinfo` : `${after.reason}; unmounted it again`);
}

/**
 * umount the node's overlay if it is mounted (as ours; anything else there is a conflict).
 * Ganesha lets go of an export only after it has processed the SIGHUP, and until then the mount is
 * busy (umount exit 32, "target is busy"), so a busy umount is retried for up to `busyWaitMs`.
 */
export async function unmountOverlay(deps: OverlayDeps, p: NodePaths, busyWaitMs = 2000): Promise<boolean> {
  if ((await overlayState(deps, p)) === 'absent') return false;
  const until = performance.now() + busyWaitMs;
  for (let delay = 5; ; delay = Math.min(delay * 2, 100)) {
    const r = await deps.spawns.run(() => deps.mounter.umount(p.mountPoint)).finally(() => deps.table.nudge());
    if (r.exitCode === 0) return true;
    if (!/busy/i.test(r.stderr) || performance.now() + delay > until) throw new RunError(r.command, r.exitCode, r.stderr);
    deps.log.debug({ node: p.node, delay }, `${p.mountPoint} is still busy (NFS server releasing it); retrying umount`);
    await new Promise((res) => setTimeout(res, delay));
  }
}

/** Delete upper and work (and the layer dir), never through a link; refuses while anything is mounted at the node's point. */
export async function wipeLayers(deps: OverlayDeps, p: NodePaths, opts: { keepMountPoint: boolean }): Promise<void> {
  if ((await deps.table.snapshot([p.mountPoint])).has(p.mountPoint)) throw new Error(`refusing to delete ${p.upper}: ${p.mountPoint} is still mounted`);
  const existed = await removeLayerDir(p);
  if (!opts.keepMountPoint) await rmdir(p.mountPoint).catch(() => {});
  // logged only when there was a layer: a first boot (or a reset's second pass) deletes nothing
  if (existed) deps.log.info({ node: p.node, layer: p.layerDir }, `deleted the writable layer of ${p.node}`);
}

/** How long a mount refused because the upper is still marked in use is retried. */
const IN_USE_WAIT_MS = 3000;

/**
 * An upper just unmounted (a version switch keeps the same upper) can stay marked in use for a moment
 * while the kernel finishes tearing the old mount down (the NFS server dropped the last reference):
 * overlayfs then refuses it with EBUSY ("upperdir is in-use"). Retried briefly; other errors are not.
 */
async function mountRetryingInUse(deps: OverlayDeps, p: NodePaths, mount: () => Promise<void>): Promise<void> {
  const until = performance.now() + IN_USE_WAIT_MS;
  for (let delay = 10; ; delay = Math.min(delay * 2, 200)) {
    try {
      return await mount();
    } catch (e) {
      if (!isInUse(e) || performance.now() + delay > until) throw e;
      deps.log.debug({ node: p.node, delay }, `${p.upper} is still in use by the mount just removed; mounting again`);
      await new Promise((res) => setTimeout(res, delay));
    }
  }
}

function isInUse(e: unknown): boolean {
  if (!(e instanceof RunError)) return false;
  const cause = (e as { cause?: { code?: string } }).cause;
  return cause?.code === 'EBUSY' || /resource busy/i.test(e.stderr);
}

/** A mount that failed because the upper's recorded origin or index does not match its lower layer (ESTALE). */
export function isStaleOrigin(e: unknown): boolean {
  if (!(e instanceof RunError)) return false;
  const cause = (e as { cause?: { code?: string } }).cause;
  return cause?.code === 'ESTALE' || /stale file handle/i.test(e.stderr);
}
