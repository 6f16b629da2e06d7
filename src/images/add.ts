// `image add`: a new immutable version from a directory, a tarball or an OCI/Docker archive. The
// version is built in images_dir/<name>/.tmp-PID-*/ and renamed into place only when complete, so a
// failure at any point (a bad member, a full disk) leaves no partial version. Unchanged files are
// hard links to the previous version (rsync --link-dest --checksum: same content, owner, mode, mtime
// and xattrs; content is compared, not just size and mtime, since image builds often pin every mtime):
// safe only because versions are immutable.
import { mkdir, rename, rm, stat } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { PxeError } from '../errors.ts';
import type { Runner } from '../runner.ts';
import { newVersionId } from './names.ts';
import { protect, protectAll, withWritableView, type MountTools } from './protect.ts';
import { ensureImageDir, listVersions, promote, readCurrent, validName, versionDir } from './store.ts';
import { checkTarball, readHead, sniffCompression, TAR_FLAG, type Compression } from './tar-read.ts';
import { lockImage, removeStaleTemps } from './lock.ts';

/** Copying a large tree takes long; the runner's default timeout is for quick tools. */
export const DATA_TIMEOUT_MS = 24 * 3600_000;

/** What `image add` imports. */
export type ImageSource =
  | { kind: 'dir'; path: string }
  | { kind: 'tar'; path: string; compression: Compression }
  | { kind: 'oci-archive' | 'docker-archive'; path: string };

const TAR_SUFFIX = /\.(tar|tar\.gz|tgz|tar\.xz|txz|tar\.zst|tar\.zstd|tzst)$/;

/** Classify SOURCE by what it is on disk (and its prefix); throws a clear USAGE error otherwise. */
export async function classifySource(arg: string): Promise<ImageSource> {
  const m = /^(oci-archive|docker-archive):(.+)$/.exec(arg);
  const file = path.resolve(m ? m[2]! : arg);
  const st = await stat(file).catch((e: NodeJS.ErrnoException) => {
    throw new PxeError('USAGE', `image source ${arg}: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`);
  });
  if (m) {
    if (!st.isFile()) throw new PxeError('USAGE', `image source ${arg}: ${file} is not a regular file`);
    return { kind: m[1] as 'oci-archive' | 'docker-archive', path: file };
  }
  if (st.isDirectory()) return { kind: 'dir', path: file };
  if (!st.isFile()) throw new PxeError('USAGE', `image source ${arg} is neither a directory, a tarball nor an archive`);
  const compression = sniffCompression(await readHead(file));
  if (compression === undefined || !TAR_SUFFIX.test(file)) {
    throw new PxeError('USAGE', `image source ${arg} is neither a directory, a tarball (.tar, .tar.gz, .tar.xz, .tar.zst) nor oci-archive:FILE / docker-archive:FILE`);
  }
  return { kind: 'tar', path: file, compression };
}

export interface StoreContext extends MountTools {
  imagesDir: string;
  /** progress lines for the admin (stderr in the CLI) */
  say?: (line: string) => void;
}

/** Build `tree` (must not exist) from a staged root: hard links to `prev` for unchanged files, else a rename. */
async function share(c: StoreContext, staged: string, tree: string, prev: string | undefined): Promise<void> {
  if (prev === undefined) {
    await rename(staged, tree);
    return;
  }
  await c.runner.run(['rsync', '-aHAX', '--checksum', '--numeric-ids', `--link-dest=${prev}`, `${staged}/`, `${tree}/`], { mutating: true, timeoutMs: DATA_TIMEOUT_MS });
}

async function materialize(c: StoreContext, src: ImageSource, tmp: string, tree: string, prev: string | undefined): Promise<void> {
  const run = (argv: string[]) => c.runner.run(argv, { mutating: true, timeoutMs: DATA_TIMEOUT_MS });
  if (src.kind === 'dir') {
    // one file system only: a chroot's /proc or /dev mounted inside the source is not copied
    if (prev === undefined) await run(['cp', '-a', '--one-file-system', '--reflink=auto', '--', src.path, tree]);
    else await run(['rsync', '-aHAX', '--checksum', '-x', '--numeric-ids', `--link-dest=${prev}`, `${src.path}/`, `${tree}/`]);
    return;
  }
  const stage = path.join(tmp, 'stage');
  if (src.kind === 'tar') {
    const before = await stat(src.path);
    await mkdir(stage, { mode: 0o755 });
    const flag = TAR_FLAG[src.compression];
    await run([
      'tar', '--extract', `--file=${src.path}`, ...(flag ? [flag] : []), `--directory=${stage}`,
      '--numeric-owner', '--same-owner', '--same-permissions', '--xattrs', '--xattrs-include=*', '--acls',
      '--delay-directory-restore', '--no-overwrite-dir',
    ]);
    const after = await stat(src.path);
    if (after.size !== before.size || after.mtimeMs !== before.mtimeMs || after.ino !== before.ino) {
      throw new PxeError('CONFLICT', `${src.path} changed while it was imported; nothing was added`);
    }
    await share(c, stage, tree, prev);
    return;
  }
  // OCI and Docker archives: skopeo reads the archive into an OCI layout, umoci flattens its layers
  // (whiteouts and opaque directories applied, owners, modes, xattrs, devices and hard links kept)
  const layout = path.join(tmp, 'layout');
  const bundle = path.join(tmp, 'bundle');
  await run(['skopeo', '--insecure-policy', 'copy', '--quiet', `${src.kind}:${src.path}`, `oci:${layout}:image`]);
  await run(['umoci', 'unpack', '--image', `${layout}:image`, bundle]);
  await share(c, path.join(bundle, 'rootfs'), tree, prev);
}

export interface AddResult {
  version: string;
  promoted: boolean;
  /** the version files were shared with */
  sharedWith?: string;
}

/** Add a version of `name` from `source`; the first version of an image is promoted even without `promote`. */
export async function addVersion(c: StoreContext, name: string, source: string, opts: { promote?: boolean; now?: Date } = {}): Promise<AddResult> {
  validName(name, 'image name');
  const src = await classifySource(source);
  if (src.kind === 'tar') {
    const n = await checkTarball(c.runner, src.path, src.compression).catch((e: Error) => {
      throw new PxeError('USAGE', `image source ${source}: ${e.message}; nothing was added`);
    });
    c.say?.(`checked ${n} members of ${src.path}`);
  }
  const dir = await ensureImageDir(c.imagesDir, name);
  const release = await lockImage(dir);
  try {
    await removeStaleTemps(c, dir);
    await protectAll(c, c.imagesDir, name);
    const current = await readCurrent(c.imagesDir, name);
    const versions = await listVersions(c.imagesDir, name);
    const base = current ?? versions.at(-1);
    const version = newVersionId(opts.now);
    await buildVersion(c, dir, version, async (view, tmp, tree) => {
      await materialize(c, src, tmp, tree, base === undefined ? undefined : path.join(view, base));
    });
    const promoted = !!opts.promote || current === undefined;
    if (promoted) await promote(c.imagesDir, name, version, opts.now);
    return { version, promoted, ...(base ? { sharedWith: base } : {}) };
  } finally {
    await release();
  }
}

/**
 * Build version `version` of the image at `dir` with `fill(view, tmp, tree)`, which must create
 * `tree`; then rename it into place and protect it. On any failure the temp dir goes and nothing else changed.
 */
export async function buildVersion(c: StoreContext, dir: string, version: string, fill: (view: string, tmp: string, tree: string) => Promise<void>): Promise<void> {
  await withWritableView(c, dir, async (view) => {
    const tmpName = `.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
    const tmp = path.join(view, tmpName);
    await mkdir(tmp, { mode: 0o700 });
    try {
      const tree = path.join(tmp, 'tree');
      await fill(view, tmp, tree);
      const st = await stat(tree).catch(() => undefined);
      if (!st?.isDirectory()) throw new PxeError('STATE', `the new version's root is not a directory`);
      await rename(tree, path.join(view, version));
    } finally {
      await rm(tmp, { recursive: true, force: true });
    }
  });
  await protect(c, versionDir(c.imagesDir, path.basename(dir), version));
}
