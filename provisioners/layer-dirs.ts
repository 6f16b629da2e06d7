// A node's directories (node_dir/<NODE>, overlay_dir/<NODE>, its upper and work) are opened and
// deleted without following a symlink below the configured roots. mount(2), mkdir -p and rm -r
// all follow a link planted there, which mounted an overlay over a host directory and made the
// upper layer at the link's target. Each step is an open of ONE name relative to the directory
// opened before it (`/proc/self/fd/N/name` is openat(N, name)) with O_NOFOLLOW|O_DIRECTORY, so a
// link, FIFO, device or file there is refused without being followed, opened or waited on, and a
// swap after the check cannot redirect what the descriptor already holds. The mount(2) addon's
// mountNode (native/sysmount.c) takes the same steps off the main thread; layerDirError gives its
// failures the errors thrown here.
import { closeSync, constants, fstatSync, mkdirSync, openSync } from 'node:fs';
import { lstat, mkdir, open, readdir, readlink, rmdir, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { printable } from '../src/validate.ts';
import { DIR_MODES } from './overlay.ts';
import type { NodePaths } from './paths.ts';

/** Read-only directory opens that never follow a last-component link and never block (O_CLOEXEC is libuv's default). */
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW | constants.O_NONBLOCK;
/** unlinks in flight at once while deleting one directory's entries */
const UNLINK_BATCH = 64;

/** A path below a managed root that is not a real directory: the node fails, nothing is touched. */
export class UnsafePathError extends Error {
  readonly code = 'EUNSAFEPATH';
  constructor(message: string) {
    super(message);
    this.name = 'UnsafePathError';
  }
}

/** The path of `name` inside the directory open at `fd`, resolved by the kernel like openat(fd, name). */
export function at(fd: number, name?: string): string {
  return name === undefined ? `/proc/self/fd/${fd}` : `/proc/self/fd/${fd}/${name}`;
}

function code(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** What is at `name` under the directory `fd`, in words ("is a symbolic link (to "/etc")"). */
export async function whatIsThere(fd: number, name: string): Promise<string> {
  const st = await lstat(at(fd, name)).catch(() => undefined);
  if (!st) return 'vanished while it was checked';
  if (st.isSymbolicLink()) {
    const to = await readlink(at(fd, name)).catch(() => '?');
    return `is a symbolic link (to ${JSON.stringify(printable(to, 200))})`;
  }
  if (st.isFIFO()) return 'is a FIFO';
  if (st.isCharacterDevice()) return 'is a character device';
  if (st.isBlockDevice()) return 'is a block device';
  if (st.isSocket()) return 'is a socket';
  if (st.isFile()) return 'is a regular file';
  return 'is not a directory';
}

/**
 * Open `name` under the open directory `parent` as a directory, never following a link; with
 * `mode`, create it first when missing. `what` and `shown` name it in the error. Synchronous
 * calls (a few microseconds each on a local directory; O_NONBLOCK, so nothing there can make one
 * wait): in a storm the thread-pool round trips of the async calls cost more than the calls.
 */
async function openChild(parent: number, name: string, what: string, shown: string, mode?: number): Promise<number> {
  if (mode !== undefined) {
    try {
      mkdirSync(at(parent, name), { mode });
    } catch (e) {
      if (code(e) !== 'EEXIST') throw e;
    }
  }
  try {
    return openSync(at(parent, name), DIR_FLAGS);
  } catch (e) {
    if (code(e) !== 'ELOOP' && code(e) !== 'ENOTDIR') throw e;
    throw new UnsafePathError(
      `${what} ${shown} ${await whatIsThere(parent, name)}, not a directory: pxebootd never mounts, creates or deletes through it; remove it by hand, then provision the node again`,
    );
  }
}

/** Where the mount(2) addon's mountNode could not make or open one of a node's directories. */
export interface LayerDirFailure {
  errno: number;
  code: string;
  message: string;
  /** which directory: node_dir, node_dir/<NODE>, overlay_dir, overlay_dir/<NODE>, upper, work */
  step: string;
  syscall: string;
  /** the name that failed, in parentFd (a root's whole path when parentFd is -1) */
  name: string;
  parentFd: number;
}

/**
 * The error openLayerDirs would have thrown for `f` (UnsafePathError for a link or non-directory,
 * else an fs error naming the path); closes f.parentFd.
 */
export async function layerDirError(p: NodePaths, f: LayerDirFailure): Promise<Error> {
  const shown: Record<string, string> = { node_dir: p.nodeDir, 'node_dir/<NODE>': p.mountPoint, overlay_dir: path.dirname(p.layerDir), 'overlay_dir/<NODE>': p.layerDir, upper: p.upper, work: p.work };
  const where = shown[f.step] ?? f.name;
  try {
    if (f.parentFd >= 0 && f.syscall === 'open' && (f.code === 'ELOOP' || f.code === 'ENOTDIR')) {
      return new UnsafePathError(
        `${f.step} ${where} ${await whatIsThere(f.parentFd, f.name)}, not a directory: pxebootd never mounts, creates or deletes through it; remove it by hand, then provision the node again`,
      );
    }
    return Object.assign(new Error(`${f.code}: ${f.message}, ${f.syscall} '${where}'`), { code: f.code, errno: -f.errno, syscall: f.syscall, path: where });
  } finally {
    if (f.parentFd >= 0) closeAll([f.parentFd]);
  }
}

/** A configured root (trusted: the admin's config), created when missing. */
function openRoot(dir: string, mode: number): number {
  try {
    return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    if (code(e) !== 'ENOENT') throw e;
  }
  mkdirSync(dir, { recursive: true, mode });
  return openSync(dir, constants.O_RDONLY | constants.O_DIRECTORY);
}

function closeAll(fds: Array<number | undefined>): void {
  for (const fd of fds) {
    if (fd === undefined) continue;
    try {
      closeSync(fd);
    } catch {
      /* closing is all that is left to do */
    }
  }
}

/** One of a node's directories, open. */
export interface DirHandle {
  readonly fd: number;
}

/** The open mount point, upper and work of one node; close() when the mount is done. */
export interface LayerDirs {
  target: DirHandle;
  upper: DirHandle;
  work: DirHandle;
  close(): Promise<void>;
}

/**
 * Create (when missing) and open node_dir/<NODE>, overlay_dir/<NODE>, upper and work, each as a
 * real directory. Throws UnsafePathError naming the first one that is a link or not a directory.
 */
export async function openLayerDirs(p: NodePaths): Promise<LayerDirs> {
  const held: number[] = [];
  const keep = (fd: number): number => (held.push(fd), fd);
  try {
    const nodeRoot = keep(openRoot(p.nodeDir, DIR_MODES.mountPoint));
    const target = keep(await openChild(nodeRoot, p.node, 'node_dir/<NODE>', p.mountPoint, DIR_MODES.mountPoint));
    // mkdir -p's mode applies to every directory it creates: a new overlay_dir is 0700 too
    const overlayRoot = keep(openRoot(path.dirname(p.layerDir), DIR_MODES.layerDir));
    const layer = keep(await openChild(overlayRoot, p.node, 'overlay_dir/<NODE>', p.layerDir, DIR_MODES.layerDir));
    const upper = keep(await openChild(layer, 'upper', 'upper', p.upper, DIR_MODES.upper));
    const work = keep(await openChild(layer, 'work', 'work', p.work, DIR_MODES.work));
    closeAll([nodeRoot, overlayRoot, layer]);
    let closed = false;
    return {
      target: { fd: target },
      upper: { fd: upper },
      work: { fd: work },
      close: async () => {
        if (closed) return;
        closed = true;
        closeAll([target, upper, work]);
      },
    };
  } catch (e) {
    closeAll(held);
    throw e;
  }
}

/**
 * For a mount by path (mount(8) as a child): each path must still lead to the very directory we
 * opened, and not through a link. Racy by nature (the child resolves the paths again); see README.
 */
export async function recheckLayerDirs(p: NodePaths, dirs: LayerDirs): Promise<void> {
  const checks: Array<[string, string, DirHandle]> = [
    ['node_dir/<NODE>', p.mountPoint, dirs.target],
    ['upper', p.upper, dirs.upper],
    ['work', p.work, dirs.work],
  ];
  await Promise.all(
    checks.map(async ([what, shown, h]) => {
      const [now, held] = [await lstat(shown).catch(() => undefined), fstatSync(h.fd)];
      if (!now || !now.isDirectory() || now.ino !== held.ino || now.dev !== held.dev) {
        const why = !now ? 'vanished' : now.isSymbolicLink() ? 'is now a symbolic link' : !now.isDirectory() ? 'is no longer a directory' : 'now leads to another directory (a link on the way?)';
        throw new UnsafePathError(`${what} ${shown} ${why} since pxebootd checked it; not mounting`);
      }
    }),
  );
}

/**
 * rm -rf overlay_dir/<NODE> without following any link: a link inside the layer (the client's own
 * files hold many) is removed itself, and overlay_dir/<NODE> being a link or not a directory is
 * refused (UnsafePathError). Refuses to cross into another filesystem. Returns whether it existed.
 */
export async function removeLayerDir(p: NodePaths): Promise<boolean> {
  let root: FileHandle;
  try {
    root = await open(path.dirname(p.layerDir), constants.O_RDONLY | constants.O_DIRECTORY);
  } catch (e) {
    if (code(e) === 'ENOENT') return false;
    throw e;
  }
  try {
    let layer: FileHandle;
    try {
      layer = await open(at(root.fd, p.node), DIR_FLAGS);
    } catch (e) {
      if (code(e) === 'ENOENT') return false;
      if (code(e) !== 'ELOOP' && code(e) !== 'ENOTDIR') throw e;
      throw new UnsafePathError(`overlay_dir/<NODE> ${p.layerDir} ${await whatIsThere(root.fd, p.node)}, not a directory: pxebootd never deletes through it; not deleting anything, remove it by hand`);
    }
    try {
      await removeContents(layer, (await layer.stat()).dev, p.layerDir);
    } finally {
      await layer.close();
    }
    await rmdir(at(root.fd, p.node));
    return true;
  } finally {
    await root.close();
  }
}

/** Delete everything inside the open directory `dir` (shown as `shown`), depth first. */
async function removeContents(dir: FileHandle, dev: number, shown: string): Promise<void> {
  const names = await readdir(at(dir.fd));
  const dirs: string[] = [];
  for (let i = 0; i < names.length; i += UNLINK_BATCH) {
    await Promise.all(
      names.slice(i, i + UNLINK_BATCH).map((n) =>
        unlink(at(dir.fd, n)).catch((e: unknown) => {
          if (code(e) === 'EISDIR') dirs.push(n);
          else if (code(e) !== 'ENOENT') throw e;
        }),
      ),
    );
  }
  for (const n of dirs) {
    let sub: FileHandle;
    try {
      sub = await open(at(dir.fd, n), DIR_FLAGS);
    } catch (e) {
      if (code(e) === 'ENOENT') continue;
      // swapped for a link or file since the unlink said "directory": remove that, never follow it
      if (code(e) === 'ELOOP' || code(e) === 'ENOTDIR') await unlink(at(dir.fd, n));
      else throw e;
      continue;
    }
    try {
      if ((await sub.stat()).dev !== dev) throw new Error(`${shown}/${n} is on another filesystem (a mount inside the layer?); not deleting across it`);
      await removeContents(sub, dev, `${shown}/${n}`);
    } finally {
      await sub.close();
    }
    await rmdir(at(dir.fd, n));
  }
}
