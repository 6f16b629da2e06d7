// A node's upper layer moving to another lower layer (a new image version, or a root_dir rebuilt in
// place), while nothing is mounted on it. With index=on,nfs_export=on, overlayfs ties an upper to
// the lower it was made on: trusted.overlay.origin on the upper root (checked at mount: ESTALE,
// "failed to verify upper root origin") and on each copied-up entry (a directory whose origin does
// not match the new lower is no longer merged with it: "failed to verify origin"), and the index in
// workdir (entries named by old lower file handles; its `upper` xattr names the upper root).
// carryUpper removes exactly those: the node's own files, whiteouts, opaque directories and
// redirects stay, and the next mount records origins on the new lower. setAsideLayer (`fresh`)
// keeps the old upper and work, untouched, under overlay_dir/<NODE>/by-version/<VERSION>/.
import { constants } from 'node:fs';
import { mkdir, open, rename, rm, rmdir, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { loadAddon } from '../src/native.ts';
import { checkComponent } from '../src/images/names.ts';
import { at, openLayerDirs, UnsafePathError, whatIsThere } from './layer-dirs.ts';
import type { NodePaths } from './paths.ts';

/** The overlay-metadata addon (provisioners/native/ovlmeta.c). */
interface OvlMeta {
  stripOrigin(upperFd: number): Promise<{ entries: number; stripped: number }>;
}

/** Where set-aside layers live, inside overlay_dir/<NODE>. */
export const BY_VERSION = 'by-version';

const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** What carrying an upper did. */
export interface CarryResult {
  /** entries walked below the upper root */
  entries: number;
  /** entries (and the root) whose origin xattr was removed */
  stripped: number;
  /** whether an index (or work scratch) was removed */
  index: boolean;
}

/**
 * Make the node's upper fit another lower layer: remove every trusted.overlay.origin and the
 * workdir's index and scratch. Never on a mounted layer (the caller unmounted it).
 */
export async function carryUpper(p: NodePaths): Promise<CarryResult> {
  const addon = loadAddon<OvlMeta>('ovlmeta', 'overlay metadata');
  if (!('mod' in addon)) throw new Error(`cannot carry ${p.upper} onto ${p.lower}: ${addon.why}`);
  const dirs = await openLayerDirs(p);
  try {
    const r = await addon.mod.stripOrigin(dirs.upper.fd);
    let index = false;
    for (const name of ['index', 'work']) {
      const there = await open(at(dirs.work.fd, name), DIR_FLAGS).then(
        (h) => h.close().then(() => true),
        () => false,
      );
      if (!there) continue;
      // rm -r never follows a link inside; the names are the kernel's (hex file handles, #N whiteouts)
      await rm(at(dirs.work.fd, name), { recursive: true, force: true });
      index = true;
    }
    return { ...r, index };
  } finally {
    await dirs.close();
  }
}

/** Open `name` under `parent` as a real directory (created with `mode` when missing), never through a link. */
async function openDir(parent: FileHandle, name: string, shown: string, mode?: number): Promise<FileHandle> {
  if (mode !== undefined) await mkdir(at(parent.fd, name), { mode }).catch((e: NodeJS.ErrnoException) => (e.code === 'EEXIST' ? undefined : Promise.reject(e)));
  try {
    return await open(at(parent.fd, name), DIR_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== 'ELOOP' && code !== 'ENOTDIR') throw e;
    throw new UnsafePathError(`${shown} ${await whatIsThere(parent.fd, name)}, not a directory: pxebootd never moves a layer through it; remove it by hand`);
  }
}

async function exists(dir: FileHandle, name: string): Promise<boolean> {
  const h = await open(at(dir.fd, name), DIR_FLAGS).catch(() => undefined);
  await h?.close();
  return h !== undefined;
}

/** What setAsideLayer did. */
export interface SetAside {
  /** where the old upper went */
  keptAt: string;
  /** true when the new version's own earlier upper came back (a return to that version) */
  restored: boolean;
}

/**
 * `fresh`: move overlay_dir/<NODE>/{upper,work} to by-version/<from>/, then bring back
 * by-version/<to>/ when the node ran `to` before (rollback), else leave none (the mount makes an
 * empty one). Nothing is deleted; never on a mounted layer.
 */
export async function setAsideLayer(p: NodePaths, from: string, to: string, now = Date.now()): Promise<SetAside> {
  for (const v of [from, to]) {
    const why = checkComponent(v, 'version');
    if (why) throw new Error(why);
  }
  const root = await open(path.dirname(p.layerDir), constants.O_RDONLY | constants.O_DIRECTORY);
  const held: FileHandle[] = [root];
  try {
    const layer = await openDir(root, p.node, p.layerDir, 0o700);
    held.push(layer);
    const byVersion = await openDir(layer, BY_VERSION, path.join(p.layerDir, BY_VERSION), 0o700);
    held.push(byVersion);
    // an earlier, interrupted switch may have left one: kept beside it, never overwritten
    let name = from;
    if (await exists(byVersion, name)) name = `${from}.${now}`;
    const keep = await openDir(byVersion, name, path.join(p.layerDir, BY_VERSION, name), 0o700);
    held.push(keep);
    for (const d of ['upper', 'work']) {
      if (await exists(layer, d)) await rename(at(layer.fd, d), at(keep.fd, d));
    }
    let restored = false;
    if (await exists(byVersion, to)) {
      const back = await openDir(byVersion, to, path.join(p.layerDir, BY_VERSION, to));
      held.push(back);
      for (const d of ['upper', 'work']) {
        if (await exists(back, d)) await rename(at(back.fd, d), at(layer.fd, d));
      }
      restored = await exists(layer, 'upper');
      await rmdir(at(byVersion.fd, to)).catch(() => {});
    }
    return { keptAt: path.join(p.layerDir, BY_VERSION, name, 'upper'), restored };
  } finally {
    await Promise.all(held.reverse().map((h) => h.close().catch(() => {})));
  }
}
