// Sizes of an image's versions. Versions share files through hard links, so `du` of one version
// overstates what deleting it would free: `unique` counts only the inodes no other version holds.
import { lstat, readdir } from 'node:fs/promises';
import path from 'node:path';

/** Sizes of one version, in bytes. */
export interface VersionSize {
  /** sum of file sizes (each inode once), as du --apparent-size */
  apparent: number;
  /** allocated blocks (each inode once), as du */
  disk: number;
  /** allocated blocks of inodes that no other version of the image holds: what rm would free */
  unique: number;
  files: number;
}

interface InodeInfo {
  blocks: number;
  size: number;
  versions: Set<string>;
}

async function walk(root: string, visit: (key: string, size: number, blocks: number) => void): Promise<void> {
  const stack = [root];
  while (stack.length > 0) {
    const dir = stack.pop()!;
    const st = await lstat(dir, { bigint: true });
    visit(`${st.dev}:${st.ino}`, Number(st.size), Number(st.blocks) * 512);
    for (const e of await readdir(dir, { withFileTypes: true })) {
      const p = path.join(dir, e.name);
      if (e.isDirectory()) stack.push(p);
      else {
        const s = await lstat(p, { bigint: true });
        visit(`${s.dev}:${s.ino}`, Number(s.size), Number(s.blocks) * 512);
      }
    }
  }
}

/** Sizes of each version directory given (id -> path), and the image's total on disk. */
export async function measureVersions(dirs: ReadonlyMap<string, string>): Promise<{ sizes: Map<string, VersionSize>; totalDisk: number }> {
  const inodes = new Map<string, InodeInfo>();
  const perVersion = new Map<string, Set<string>>();
  for (const [id, dir] of dirs) {
    const mine = new Set<string>();
    perVersion.set(id, mine);
    await walk(dir, (key, size, blocks) => {
      mine.add(key);
      let info = inodes.get(key);
      if (!info) inodes.set(key, (info = { blocks, size, versions: new Set() }));
      info.versions.add(id);
    });
  }
  const sizes = new Map<string, VersionSize>();
  for (const [id, keys] of perVersion) {
    const s: VersionSize = { apparent: 0, disk: 0, unique: 0, files: keys.size };
    for (const k of keys) {
      const info = inodes.get(k)!;
      s.apparent += info.size;
      s.disk += info.blocks;
      if (info.versions.size === 1) s.unique += info.blocks;
    }
    sizes.set(id, s);
  }
  let totalDisk = 0;
  for (const info of inodes.values()) totalDisk += info.blocks;
  return { sizes, totalDisk };
}
