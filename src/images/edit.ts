// `image edit`: run a command (or a shell) in a writable copy of the current version. The copy is an
// overlay on top of the version (nothing is copied up front, and the version stays read-only); on
// exit 0 the merged tree becomes a new version, sharing every unchanged file with the old one; on a
// non-zero exit nothing is saved. /proc, /sys, /dev and resolv.conf come from systemd-nspawn where it
// is installed and the image looks like an OS tree (it has /usr), else from bind mounts around chroot,
// removed in finally.
import { access, lstat, mkdir, rm, unlink, writeFile } from 'node:fs/promises';
import { constants } from 'node:fs';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PxeError } from '../errors.ts';
import { buildVersion, DATA_TIMEOUT_MS, type StoreContext } from './add.ts';
import { lockImage, removeStaleTemps } from './lock.ts';
import { newVersionId } from './names.ts';
import { protectAll, unprotect } from './protect.ts';
import { imageDir, promote, resolveCurrent } from './store.ts';

export interface EditOptions {
  /** argv to run inside; empty: an interactive shell */
  command: string[];
  promote?: boolean;
  /** 'auto' (default): nspawn when usable, else chroot */
  runner?: 'auto' | 'nspawn' | 'chroot';
  now?: Date;
}

export interface EditResult {
  exitCode: number;
  /** the new version, when the command succeeded */
  version?: string;
  promoted: boolean;
  via: 'nspawn' | 'chroot';
}

const NSPAWN_PATHS = ['/usr/bin/systemd-nspawn', '/bin/systemd-nspawn'];

async function exists(p: string, mode = constants.F_OK): Promise<boolean> {
  return access(p, mode).then(() => true, () => false);
}

async function findNspawn(): Promise<string | undefined> {
  for (const p of NSPAWN_PATHS) if (await exists(p, constants.X_OK)) return p;
  return undefined;
}

/** Overlay options are comma- and colon-separated: a path with those cannot be named in them. */
function checkOverlayPath(p: string): void {
  if (/[,:\\\n]/.test(p)) throw new PxeError('USAGE', `image edit: ${p} contains ",", ":" or "\\", which overlay mount options cannot carry`);
}

/** Run argv in `root` via chroot, with /proc, /sys, /dev and resolv.conf mounted for its length. */
async function runChroot(c: StoreContext, root: string, argv: string[]): Promise<number> {
  const mounted: string[] = [];
  const mnt = async (args: string[], target: string) => {
    await c.runner.run([c.mount, ...args, target], { mutating: true });
    mounted.push(target);
  };
  try {
    for (const d of ['proc', 'sys', 'dev']) {
      const st = await lstat(path.join(root, d)).catch(() => undefined);
      if (st && !st.isDirectory()) throw new PxeError('STATE', `image edit: /${d} in the image is not a directory`);
      if (!st) await mkdir(path.join(root, d), { mode: 0o755 });
    }
    await mnt(['-t', 'proc', 'proc'], path.join(root, 'proc'));
    for (const d of ['sys', 'dev']) {
      await mnt(['--rbind', `/${d}`], path.join(root, d));
      // unmounting the copy must not unmount the host's /dev/pts and friends
      await c.runner.run([c.mount, '--make-rslave', path.join(root, d)], { mutating: true });
    }
    const resolv = path.join(root, 'etc', 'resolv.conf');
    const rst = await lstat(resolv).catch(() => undefined);
    if (rst?.isFile()) await mnt(['--bind', '-o', 'ro', '/etc/resolv.conf'], resolv);
    else c.say?.(`image edit: the image's /etc/resolv.conf is ${rst ? 'not a regular file' : 'missing'}; name resolution may not work inside`);
    const r = await c.runner.run(['chroot', root, ...(argv.length ? argv : ['/bin/sh', '-i'])], { mutating: true, allowFailure: true, inherit: true, timeoutMs: 0 });
    return r.exitCode;
  } finally {
    for (const m of mounted.reverse()) {
      const r = await c.runner.run([c.umount, '--recursive', m], { mutating: true, allowFailure: true });
      if (r.exitCode !== 0) await c.runner.run([c.umount, '--recursive', '--lazy', m], { mutating: true, allowFailure: true });
    }
  }
}

async function runNspawn(c: StoreContext, nspawn: string, root: string, argv: string[]): Promise<number> {
  const r = await c.runner.run(
    [nspawn, '--quiet', '--register=no', '--keep-unit', '--resolv-conf=bind-host', '--timezone=off', '-D', root, ...(argv.length ? ['--', ...argv] : [])],
    { mutating: true, allowFailure: true, inherit: true, timeoutMs: 0 },
  );
  return r.exitCode;
}

/** Edit the current version of `name`; see EditResult. */
export async function editImage(c: StoreContext, name: string, o: EditOptions): Promise<EditResult> {
  const dir = imageDir(c.imagesDir, name);
  checkOverlayPath(dir);
  const release = await lockImage(dir);
  try {
    await removeStaleTemps(c, dir);
    await protectAll(c, c.imagesDir, name);
    const cur = await resolveCurrent(c.imagesDir, name);
    const nspawn = o.runner === 'chroot' ? undefined : await findNspawn();
    const via: 'nspawn' | 'chroot' = nspawn && (o.runner === 'nspawn' || (await exists(path.join(cur.path, 'usr')))) ? 'nspawn' : 'chroot';
    if (o.runner === 'nspawn' && !nspawn) throw new PxeError('USAGE', 'image edit: systemd-nspawn is not installed');
    const work = path.join(dir, `.edit-${process.pid}-${randomBytes(4).toString('hex')}`);
    const merged = path.join(work, 'merged');
    await mkdir(work, { mode: 0o700 });
    try {
      for (const d of ['upper', 'work', 'merged']) await mkdir(path.join(work, d), { mode: 0o755 });
      await c.runner.run([c.mount, '-t', 'overlay', 'overlay', '-o', `lowerdir=${cur.path},upperdir=${path.join(work, 'upper')},workdir=${path.join(work, 'work')}`, merged], { mutating: true });
      try {
        const resolv = path.join(merged, 'etc', 'resolv.conf');
        const hadResolv = (await lstat(resolv).catch(() => undefined)) !== undefined;
        // a mount point for the host's resolv.conf, removed again below so the version does not gain it
        if (!hadResolv && (await lstat(path.join(merged, 'etc')).catch(() => undefined))?.isDirectory()) await writeFile(resolv, '', { mode: 0o644 });
        const exitCode = nspawn && via === 'nspawn' ? await runNspawn(c, nspawn, merged, o.command) : await runChroot(c, merged, o.command);
        if (!hadResolv) await unlink(resolv).catch(() => {});
        if (exitCode !== 0) return { exitCode, promoted: false, via };
        const version = newVersionId(o.now);
        await buildVersion(c, dir, version, async (view, _tmp, tree) => {
          await c.runner.run(['rsync', '-aHAX', '--checksum', '-x', '--numeric-ids', `--link-dest=${path.join(view, cur.version)}`, `${merged}/`, `${tree}/`], { mutating: true, timeoutMs: DATA_TIMEOUT_MS });
        });
        if (o.promote) await promote(c.imagesDir, name, version, o.now);
        return { exitCode, version, promoted: !!o.promote, via };
      } finally {
        await unprotect(c, merged);
      }
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  } finally {
    await release();
  }
}

