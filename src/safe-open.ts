// The one way pxebootd opens a file it reads but does not own: lease files, syslog files and their
// rotated copies, templates, the config. Only a regular file is read. A FIFO, device, socket or
// directory at the path is refused without blocking (O_NONBLOCK: opening a FIFO with no writer
// returns at once), so no libuv worker ever waits on one. Symlinks are followed only under the rule
// below, so a link planted by another user cannot make pxebootd read a file that user could not.
//
// The symlink rule: every symlink met while resolving the path (the last component or any directory
// on the way, at any depth of a chain) must be owned by root or by the owner of the file the path
// finally names. A link owned by uid 1000 may point at uid 1000's own files only; a root-owned link
// may point anywhere. The file itself is checked on the open descriptor (fstat), and it must be the
// very inode the resolution found.
import { closeSync, constants, fstatSync, lstatSync, openSync, readSync, readlinkSync, realpathSync, type Stats } from 'node:fs';
import { lstat, open, readlink, realpath, type FileHandle } from 'node:fs/promises';
import path from 'node:path';

/** Size limits of what pxebootd reads; in one place so the README can quote them. */
export const READ_LIMITS = {
  /** the config file (YAML), read whole by `check`, `run` and every SIGHUP */
  configBytes: 4 << 20,
  /** a boot-file or default template, read whole for each render */
  templateBytes: 1 << 20,
  /** a dnsmasq leases file, read whole on each change (100,000 leases are ~7.5 MB) */
  leaseFileBytes: 64 << 20,
  /** a line of a file followed line by line (Kea CSV; syslog's own copy is line-processor's MAX_LINE_BYTES); longer ones are skipped up to their newline */
  lineBytes: 64 << 10,
  /** a table the daemon reads whole: etab, its exports file, its state files (100,000 exports are ~25 MB of etab) */
  tableBytes: 256 << 20,
  /** one line of a table read in pieces (etab, /proc/self/mountinfo); the kernel's own lines are a few KB */
  tableLineBytes: 1 << 20,
} as const;

/** The flags of every read-only open: never block on a FIFO, never take a terminal, never follow a last-component symlink we did not check. */
const OPEN_FLAGS = constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY | constants.O_NOFOLLOW;

/** Symlinks followed on the way to one file at most (the kernel's own limit). */
const MAX_LINKS = 40;

/** A path that exists but is not read: not a regular file, a symlink the rule refuses, or too big. */
export class RefusedFileError extends Error {
  readonly code = 'EREFUSED';
  readonly path: string;
  /** what is wrong, without the path: "is a FIFO (named pipe), not a regular file" */
  readonly reason: string;
  constructor(file: string, reason: string) {
    super(`${file} ${reason}`);
    this.name = 'RefusedFileError';
    this.path = file;
    this.reason = reason;
  }
}

/** What a file type is called in a refusal. */
export function describeType(st: Pick<Stats, 'isFIFO' | 'isCharacterDevice' | 'isBlockDevice' | 'isSocket' | 'isDirectory' | 'isSymbolicLink'>): string {
  if (st.isFIFO()) return 'a FIFO (named pipe)';
  if (st.isCharacterDevice()) return 'a character device';
  if (st.isBlockDevice()) return 'a block device';
  if (st.isSocket()) return 'a socket';
  if (st.isDirectory()) return 'a directory';
  if (st.isSymbolicLink()) return 'a symlink';
  return 'not a regular file';
}

/** A symlink met on the way, with its owner. */
export interface LinkHop {
  link: string;
  uid: number;
  target: string;
}

/** The symlink rule as a pure check: the refusal reason, or undefined when every hop may be followed. */
export function judgeLinks(hops: readonly LinkHop[], fileUid: number): string | undefined {
  for (const h of hops) {
    if (h.uid === 0 || h.uid === fileUid) continue;
    return `is reached through the symlink ${h.link} -> ${h.target}, owned by uid ${h.uid}, to a file owned by uid ${fileUid}: a symlink is followed only when root or the file's owner made it`;
  }
  return undefined;
}

type Req = { op: 'realpath' | 'lstat' | 'readlink'; path: string };
interface Resolved {
  /** the path with no symlink left in it */
  real: string;
  /** lstat of `real` when the slow path looked at it */
  st?: Stats;
}

/**
 * Resolve `file` to a symlink-free path, applying the rule. Written once as a generator of file-system
 * requests, so the async and sync openers share it. Missing components throw their ENOENT/ENOTDIR.
 */
function* resolve(file: string): Generator<Req, Resolved, unknown> {
  const abs = path.resolve(file);
  // common case: nothing to follow anywhere (one syscall)
  const real = (yield { op: 'realpath', path: abs }) as string;
  if (real === abs) return { real };
  const hops: LinkHop[] = [];
  let todo = abs.split('/').filter(Boolean);
  let done = '/';
  let st: Stats | undefined;
  while (todo.length) {
    const name = todo.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      done = path.dirname(done);
      continue;
    }
    const cur = path.join(done, name);
    const s = (yield { op: 'lstat', path: cur }) as Stats;
    if (s.isSymbolicLink()) {
      if (hops.length >= MAX_LINKS) throw new RefusedFileError(file, `has more than ${MAX_LINKS} symlinks on the way to a file`);
      const target = (yield { op: 'readlink', path: cur }) as string;
      hops.push({ link: cur, uid: s.uid, target });
      if (target.startsWith('/')) done = '/';
      todo = [...target.split('/').filter(Boolean), ...todo];
      continue;
    }
    done = cur;
    st = s;
  }
  if (!st) throw new RefusedFileError(file, 'is the root directory, not a regular file');
  if (!st.isFile()) throw new RefusedFileError(file, `is ${describeType(st)}${hops.length ? ` (${done})` : ''}, not a regular file`);
  const why = judgeLinks(hops, st.uid);
  if (why) throw new RefusedFileError(file, why);
  return { real: done, st };
}

/** The opened descriptor must be a regular file, and the one the resolution checked. */
function verify(file: string, r: Resolved, st: Stats): void {
  if (!st.isFile()) throw new RefusedFileError(file, `is ${describeType(st)}, not a regular file`);
  if (r.st && (r.st.ino !== st.ino || r.st.dev !== st.dev)) throw new RefusedFileError(file, 'changed while it was being opened');
}

/** O_NOFOLLOW on a symlink that appeared after the resolution: ELOOP, reported like any refused link. */
function raced(file: string, e: unknown): never {
  if ((e as NodeJS.ErrnoException).code === 'ELOOP') throw new RefusedFileError(file, 'was replaced by a symlink while it was being opened');
  if ((e as NodeJS.ErrnoException).code === 'ENXIO') throw new RefusedFileError(file, 'is a socket, not a regular file');
  throw e;
}

async function resolveAsync(file: string): Promise<Resolved> {
  const g = resolve(file);
  let r = g.next();
  while (!r.done) {
    const q = r.value;
    let v: unknown;
    try {
      v = q.op === 'realpath' ? await realpath(q.path) : q.op === 'lstat' ? await lstat(q.path) : await readlink(q.path);
    } catch (e) {
      r = g.throw(e);
      continue;
    }
    r = g.next(v);
  }
  return r.value;
}

function resolveSync(file: string): Resolved {
  const g = resolve(file);
  let r = g.next();
  while (!r.done) {
    const q = r.value;
    let v: unknown;
    try {
      v = q.op === 'realpath' ? realpathSync.native(q.path) : q.op === 'lstat' ? lstatSync(q.path) : readlinkSync(q.path);
    } catch (e) {
      r = g.throw(e);
      continue;
    }
    r = g.next(v);
  }
  return r.value;
}

/**
 * Open a file pxebootd reads but does not own. Throws RefusedFileError for anything but a regular
 * file reached under the symlink rule, and the usual errno errors (ENOENT, EACCES) otherwise.
 */
export async function openRegular(file: string): Promise<{ fh: FileHandle; st: Stats }> {
  const r = await resolveAsync(file);
  const fh = await open(r.real, OPEN_FLAGS).catch((e) => raced(file, e));
  try {
    const st = await fh.stat();
    verify(file, r, st);
    return { fh, st };
  } catch (e) {
    await fh.close().catch(() => {});
    throw e;
  }
}

/** openRegular for the few synchronous callers (the CLI's config probes). */
export function openRegularSync(file: string): { fd: number; st: Stats } {
  const r = resolveSync(file);
  let fd: number;
  try {
    fd = openSync(r.real, OPEN_FLAGS);
  } catch (e) {
    raced(file, e);
  }
  try {
    const st = fstatSync(fd);
    verify(file, r, st);
    return { fd, st };
  } catch (e) {
    closeSync(fd);
    throw e;
  }
}

function tooBig(file: string, maxBytes: number, what: string): RefusedFileError {
  return new RefusedFileError(file, `is larger than ${formatBytes(maxBytes)}, the limit for ${what}`);
}

/** A file that grew while being read: a bigger buffer, up to one byte past the limit (which is refused). */
function grow(file: string, buf: Buffer, maxBytes: number, what: string): Buffer {
  if (buf.length > maxBytes) throw tooBig(file, maxBytes, what);
  const bigger = Buffer.allocUnsafe(Math.min(buf.length * 2, maxBytes + 1));
  buf.copy(bigger);
  return bigger;
}

/** "4 MiB", "64 KiB" */
export function formatBytes(n: number): string {
  if (n >= 1 << 20 && n % (1 << 20) === 0) return `${n >> 20} MiB`;
  if (n >= 1 << 10 && n % (1 << 10) === 0) return `${n >> 10} KiB`;
  return `${n} bytes`;
}

/**
 * Read the whole of an open regular file, at most `maxBytes` (a file that grows past it while being
 * read is refused too). `what` names the limit in the refusal ("a config file").
 */
export async function readOpened(file: string, fh: FileHandle, st: Stats, maxBytes: number, what: string): Promise<Buffer> {
  if (st.size > maxBytes) throw tooBig(file, maxBytes, what);
  // one byte more than the size, so the read that finds the end needs no bigger buffer
  let buf: Buffer = Buffer.allocUnsafe(st.size + 1);
  let len = 0;
  for (;;) {
    if (len === buf.length) buf = grow(file, buf, maxBytes, what);
    const { bytesRead } = await fh.read(buf, len, buf.length - len, len);
    if (bytesRead === 0) break;
    len += bytesRead;
  }
  if (len > maxBytes) throw tooBig(file, maxBytes, what);
  return buf.subarray(0, len);
}

/** Open (under the rules above) and read a whole file of at most `maxBytes`. */
export async function readRegular(file: string, maxBytes: number, what: string): Promise<Buffer> {
  const { fh, st } = await openRegular(file);
  try {
    return await readOpened(file, fh, st, maxBytes, what);
  } finally {
    await fh.close().catch(() => {});
  }
}

/** readRegular for the synchronous callers. */
export function readRegularSync(file: string, maxBytes: number, what: string): Buffer {
  const { fd, st } = openRegularSync(file);
  try {
    if (st.size > maxBytes) throw tooBig(file, maxBytes, what);
    let buf: Buffer = Buffer.allocUnsafe(st.size + 1);
    let len = 0;
    for (;;) {
      if (len === buf.length) buf = grow(file, buf, maxBytes, what);
      const n = readSync(fd, buf, len, buf.length - len, len);
      if (n === 0) break;
      len += n;
    }
    if (len > maxBytes) throw tooBig(file, maxBytes, what);
    return buf.subarray(0, len);
  } finally {
    closeSync(fd);
  }
}

/** readRegular, or undefined when nothing is at the path (ENOENT): for the tables a fresh machine does not have yet. */
export async function readRegularIfPresent(file: string, maxBytes: number, what: string): Promise<Buffer | undefined> {
  try {
    return await readRegular(file, maxBytes, what);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** readRegularIfPresent for the synchronous callers (the etab edit). */
export function readRegularIfPresentSync(file: string, maxBytes: number, what: string): Buffer | undefined {
  try {
    return readRegularSync(file, maxBytes, what);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
}

/** A boot-file or default template's text, read under the rules above (one helper for every template reader). */
export async function readTemplateFile(file: string): Promise<string> {
  return (await readRegular(file, READ_LIMITS.templateBytes, 'a template')).toString('utf8');
}
