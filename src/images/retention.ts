// Which versions may go: never the current one, never one a node runs, never one of the newest N.
// The planners are pure; removeVersions is the apply step.
import { rm } from 'node:fs/promises';
import { PxeError } from '../errors.ts';
import { unprotect, protectAll } from './protect.ts';
import type { StoreContext } from './add.ts';
import { imageDir, listVersions, readCurrent, versionDir } from './store.ts';
import { lockImage } from './lock.ts';

/** Default of `image prune --keep`. */
export const DEFAULT_KEEP = 3;

/**
 * The image fields of a node record (the version its lower layer is; see src/daemon/image-switch.ts).
 */
export interface ImageUser {
  name: string;
  image?: string;
  image_version?: string;
}

/** version id -> names of the nodes that run it, for one image. Pure. */
export function usersByVersion(nodes: readonly ImageUser[], image: string): Map<string, string[]> {
  const out = new Map<string, string[]>();
  for (const n of nodes) {
    if (n.image !== image || !n.image_version) continue;
    const list = out.get(n.image_version) ?? [];
    list.push(n.name);
    out.set(n.image_version, list);
  }
  return out;
}

export interface RetentionInput {
  /** oldest first */
  versions: readonly string[];
  current: string | undefined;
  users: ReadonlyMap<string, readonly string[]>;
  keep: number;
}

/** Why `version` must stay, or undefined when it may be removed. Pure. */
export function keepReason(version: string, r: RetentionInput): string | undefined {
  if (version === r.current) return 'it is the current version';
  const users = r.users.get(version);
  if (users && users.length > 0) return `node${users.length === 1 ? '' : 's'} ${users.slice(0, 5).join(', ')}${users.length > 5 ? ', ...' : ''} run${users.length === 1 ? 's' : ''} it`;
  const newest = r.versions.slice(Math.max(0, r.versions.length - r.keep));
  if (newest.includes(version)) return `it is one of the newest ${r.keep}`;
  return undefined;
}

/** The versions `prune --keep N` removes, oldest first. Pure. */
export function planPrune(r: RetentionInput): string[] {
  return r.versions.filter((v) => keepReason(v, r) === undefined);
}

/** Unprotect and delete each version (already planned as removable). */
async function deleteVersions(c: StoreContext, name: string, versions: readonly string[]): Promise<void> {
  for (const v of versions) {
    const dir = versionDir(c.imagesDir, name, v);
    await unprotect(c, dir);
    await rm(dir, { recursive: true, force: true });
  }
}

/** `image prune`: remove the versions planPrune picks; returns them. */
export async function pruneImage(c: StoreContext, name: string, keep: number, users: ReadonlyMap<string, readonly string[]>): Promise<string[]> {
  const release = await lockImage(imageDir(c.imagesDir, name));
  try {
    const versions = await listVersions(c.imagesDir, name);
    if (versions.length === 0) throw new PxeError('USAGE', `no image ${name} in ${c.imagesDir}`);
    await protectAll(c, c.imagesDir, name);
    const gone = planPrune({ versions, current: await readCurrent(c.imagesDir, name), users, keep });
    await deleteVersions(c, name, gone);
    return gone;
  } finally {
    await release();
  }
}

/** `image rm`: remove one version, unless a retention rule (keeping the newest `keep`) keeps it. */
export async function removeVersion(c: StoreContext, name: string, version: string, keep: number, users: ReadonlyMap<string, readonly string[]>): Promise<void> {
  const release = await lockImage(imageDir(c.imagesDir, name));
  try {
    const versions = await listVersions(c.imagesDir, name);
    if (!versions.includes(version)) throw new PxeError('USAGE', `image ${name} has no version ${version} (see pxebootd image list ${name})`);
    const why = keepReason(version, { versions, current: await readCurrent(c.imagesDir, name), users, keep });
    if (why) throw new PxeError('CONFLICT', `image ${name} version ${version} is kept: ${why}; nothing was removed`);
    await deleteVersions(c, name, [version]);
  } finally {
    await release();
  }
}
