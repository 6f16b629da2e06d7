// Versions are immutable: each version directory is bind-mounted read-only onto itself, so a write
// through any path under images_dir fails with EROFS, and rm/mv of the version fail too. Mounts do
// not survive a reboot: protectAll is idempotent and runs before every image command (and is meant
// to run at daemon start-up). chattr +i is not used: overlayfs passes the immutable flag of a lower
// file up to the node, which could then not change that file at all.
// Sharing files with a new version needs a writable view of the image directory (link(2) across two
// mounts fails with EXDEV): withWritableView bind-mounts it, non-recursively, to a private temp dir
// for the length of one operation.
import { mkdtemp, readFile, rmdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseMountinfo } from '../../provisioners/mountinfo.ts';
import type { Runner } from '../runner.ts';
import { listImages, listVersions, versionDir } from './store.ts';

/** The mount and umount tools (config commands.mount/umount). */
export interface MountTools {
  runner: Runner;
  mount: string;
  umount: string;
}

async function mountsAt(dirs: readonly string[]): Promise<Map<string, import('../../provisioners/mountinfo.ts').MountEntry>> {
  return parseMountinfo(await readFile('/proc/self/mountinfo', 'utf8'), dirs);
}

/** Whether `dir` is a read-only mount point (our protection). */
export async function isProtected(dir: string): Promise<boolean> {
  const m = (await mountsAt([dir])).get(path.resolve(dir));
  return !!m && m.mountOptions.split(',').includes('ro');
}

/** Bind-mount `dir` read-only onto itself, unless it already is. */
export async function protect(t: MountTools, dir: string): Promise<void> {
  if (await isProtected(dir)) return;
  await t.runner.run([t.mount, '--bind', '-o', 'ro', dir, dir], { mutating: true });
}

/** Remove every mount stacked on `dir` (our protection), so that it can be deleted. */
export async function unprotect(t: MountTools, dir: string): Promise<void> {
  const abs = path.resolve(dir);
  for (let i = 0; i < 8 && (await mountsAt([abs])).has(abs); i++) await t.runner.run([t.umount, abs], { mutating: true });
}

/** Protect every version of every image (or of `only`); returns how many were newly protected. */
export async function protectAll(t: MountTools, imagesDir: string, only?: string): Promise<number> {
  let n = 0;
  for (const name of only ? [only] : await listImages(imagesDir)) {
    for (const v of await listVersions(imagesDir, name)) {
      const dir = versionDir(imagesDir, name, v);
      if (await isProtected(dir)) continue;
      await protect(t, dir);
      n++;
    }
  }
  return n;
}

/** Run `fn` with a writable, non-recursive bind of `imageDir`: there, versions are plain directories. */
export async function withWritableView<T>(t: MountTools, imageDir: string, fn: (view: string) => Promise<T>): Promise<T> {
  const view = await mkdtemp(path.join(tmpdir(), 'pxebootd-image-rw-'));
  try {
    await t.runner.run([t.mount, '--bind', imageDir, view], { mutating: true });
    try {
      await t.runner.run([t.mount, '--make-private', view], { mutating: true });
      return await fn(view);
    } finally {
      await t.runner.run([t.umount, view], { mutating: true });
    }
  } finally {
    await rmdir(view).catch(() => {});
  }
}
