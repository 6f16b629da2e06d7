// The last applier of a provision plan (apply-plan.ts hands it the write and link steps, config last).
// Writes and removes a node's boot files: the canonical file atomically (temp + rename), then each
// link atomically (temp symlink + rename), so a TFTP server never sees a partial file or a
// missing name. A file we did not write (no marker) is never overwritten or removed.
// Nothing is read or written through a link we did not make: the boot directory (pxelinux.cfg,
// the GRUB or iPXE dir) must be a real directory, and is used through a descriptor opened with
// O_NOFOLLOW; an existing file is read only if it is a regular file (O_NOFOLLOW|O_NONBLOCK).
// A node's files are written by one call of the boot-files addon (provisioners/native/bootfiles.c)
// on the thread pool, or, when it cannot load, by synchronous calls doing the same steps.
import { closeSync, constants, fstatSync, lstatSync, mkdirSync, openSync, readSync, readlinkSync, renameSync, symlinkSync, unlinkSync, type Stats } from 'node:fs';
import { lstat, readlink, unlink, open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { TEMP_TRIES, tempBaseName, tempNameFor, writeFileAtomic, writeFileAtomicSync } from '../src/atomic-file.ts';
import { ConflictError } from '../src/errors.ts';
import { renderTemplate, TemplateError } from '../src/template.ts';
import { readTemplateFile } from '../src/safe-open.ts';
import { loadAddon } from '../src/native.ts';
import { addMarker, looksLikeOurName, markerNode, type BootFileSpec } from './boot-files.ts';
import { at, whatIsThere } from './layer-dirs.ts';

/** One file or link for the addon to put in place (see provisioners/native/bootfiles.c). */
interface NativeOp {
  name: string;
  data: Buffer;
  link: boolean;
  mode: number;
  temps: string[];
  expectIno: number;
}

/** What the addon did with one op: 0 unchanged, 1 written, 2 found something else there (left as it is), -1 failed. */
type NativeResult =
  | { state: 0 | 1 }
  | { state: 2; kind: 'f' | 'l' | 'o'; ino: number; head: Buffer }
  | { state: -1; errno: number; code: string; message: string; syscall: string };

interface NativeErrno {
  errno: number;
  code: string;
  message: string;
  syscall: string;
}

interface BootFilesAddon {
  apply(dir: string, ops: NativeOp[]): Promise<{ dir?: NativeErrno; results: NativeResult[] }>;
}

/** The boot-files addon, chosen once at load; without it the synchronous calls below do the same steps. */
let native: BootFilesAddon | undefined = (() => {
  const a = loadAddon<BootFilesAddon>('bootfiles', 'boot files');
  return 'mod' in a && typeof a.mod.apply === 'function' ? a.mod : undefined;
})();

/** For tests: run the boot-file writes through the addon (true) or the synchronous fallback (false); returns whether the addon was in use. */
export function useBootFilesAddon(on: boolean): boolean {
  const was = native !== undefined;
  if (!on) native = undefined;
  else {
    const a = loadAddon<BootFilesAddon>('bootfiles', 'boot files');
    if (!('mod' in a)) throw new Error(a.why);
    native = a.mod;
  }
  return was;
}

/** Opening an existing boot file to read: never through a last-component link, never waiting on a FIFO. */
const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK | constants.O_NOCTTY;
const DIR_FLAGS = constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW;

const TEMPLATE_KEY: Record<BootFileSpec['loader'], string> = { pxelinux: 'pxe_template', grub: 'grub_template', ipxe: 'ipxe_template' };

/** Open `file` for reading if it is a regular file (not through a link); undefined otherwise or when absent. */
async function openRegular(file: string): Promise<FileHandle | undefined> {
  let fh: FileHandle;
  try {
    fh = await open(file, READ_FLAGS);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ELOOP' || errCode(e) === 'ENXIO') return undefined;
    throw e;
  }
  if ((await fh.stat()).isFile()) return fh;
  await fh.close();
  return undefined;
}

/** Read the first bytes of a regular file (enough for the marker); undefined if it is absent, a link or not a regular file. */
export async function readHead(file: string, bytes = 512): Promise<string | undefined> {
  const fh = await openRegular(file);
  if (!fh) return undefined;
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
  }
}

/**
 * The first `bytes` of `file` if it is a regular file now (not through a link, never waiting on a
 * FIFO: O_NONBLOCK), else undefined. Synchronous: boot files are small and local, and in a storm
 * the thread-pool round trips of the async calls cost more than the reads.
 */
function readHeadSync(file: string, bytes: number): string | undefined {
  let fd: number;
  try {
    fd = openSync(file, READ_FLAGS);
  } catch (e) {
    if (errCode(e) === 'ENOENT' || errCode(e) === 'ELOOP' || errCode(e) === 'ENXIO') return undefined;
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) return undefined;
    const buf = Buffer.allocUnsafe(bytes);
    const n = readSync(fd, buf, 0, bytes, 0);
    return buf.subarray(0, n).toString('utf8');
  } finally {
    closeSync(fd);
  }
}

/** The whole of a regular file of `size` bytes (as lstat said), or undefined if it is anything else now. */
function readExactlySync(file: string, size: number): string | undefined {
  const text = readHeadSync(file, size + 1);
  return text !== undefined && Buffer.byteLength(text) === size ? text : undefined;
}

/**
 * The directory a boot file lives in, as a real directory (created 0755 with its parents when
 * missing and `create`); undefined when absent and not `create`. A link or non-directory there is
 * a ConflictError: pxebootd never writes boot files through a link it did not make.
 */
async function openBootDir(dir: string, create: boolean): Promise<number | undefined> {
  for (let attempt = 0; ; attempt++) {
    try {
      return openSync(dir, DIR_FLAGS);
    } catch (e) {
      if (errCode(e) === 'ENOENT' && attempt === 0) {
        if (!create) return undefined;
        mkdirSync(dir, { recursive: true, mode: 0o755 });
        continue;
      }
      if (errCode(e) !== 'ELOOP' && errCode(e) !== 'ENOTDIR') throw e;
      throw await notADirectory(dir);
    }
  }
}

/** The error for a boot directory that is a link or not a directory, saying what is there. */
async function notADirectory(dir: string): Promise<ConflictError> {
  const parent = await open(path.dirname(dir), constants.O_RDONLY | constants.O_DIRECTORY);
  const what = await whatIsThere(parent.fd, path.basename(dir)).finally(() => parent.close());
  return new ConflictError(`boot directory ${dir} ${what}, not a directory: pxebootd writes boot files only into a real directory; replace it with one`);
}

/** An errno from the addon as an Error like node:fs throws (code, errno, syscall, path). */
function fsError(e: NativeErrno, file: string): NodeJS.ErrnoException {
  return Object.assign(new Error(`${e.code}: ${e.message}, ${e.syscall} '${file}'`), { code: e.code, errno: -e.errno, syscall: e.syscall, path: file });
}

/** Run `fn` with names inside `file`'s boot directory as /proc/self/fd paths, so the directory cannot be swapped under it. */
export async function inBootDir<T>(file: string, create: boolean, fn: (here: (name: string) => string) => Promise<T> | T, absent: T): Promise<T> {
  const dir = await openBootDir(path.dirname(file), create);
  if (dir === undefined) return absent;
  try {
    return await fn((name) => at(dir, name));
  } finally {
    closeSync(dir);
  }
}

/**
 * A template reader for renderBootFile: reads of the same file that overlap share one read. A storm
 * renders the same few templates for thousands of nodes at once; reading each for each node queued
 * tens of thousands of file reads. Nothing is kept once a read is done, so an edited template is
 * used by every render that starts after the edit.
 */
export function createTemplateReader(): (file: string) => Promise<string> {
  const reading = new Map<string, Promise<string>>();
  return (file) => {
    let p = reading.get(file);
    if (!p) {
      p = readTemplateFile(file).finally(() => reading.delete(file));
      reading.set(file, p);
    }
    return p;
  };
}

/** Render one loader's file for a node; template problems name the template, node and cause. */
export async function renderBootFile(
  spec: BootFileSpec,
  values: Record<string, string | undefined>,
  node: string,
  ip: string,
  read: (file: string) => Promise<string> = readTemplateFile,
): Promise<string> {
  const text = await read(spec.template).catch((e: Error) => {
    throw new Error(`${TEMPLATE_KEY[spec.loader]} ${spec.template}: cannot read it: ${e.message}`);
  });
  try {
    return addMarker(renderTemplate(text, values), node, ip);
  } catch (e) {
    if (e instanceof TemplateError && /\{\{(mac|mac_hyphen)\}\} has no value/.test(e.message)) {
      throw new Error(`${TEMPLATE_KEY[spec.loader]} ${spec.template} uses {{mac}} but the MAC of ${ip} (node ${node}) is not known yet; no boot file written`);
    }
    throw new Error(`${TEMPLATE_KEY[spec.loader]} ${spec.template} for node ${node}: ${(e as Error).message}`);
  }
}

/** Is the thing at `file` (lstat `st`) ours to replace? */
function isOursSync(file: string, st: Stats): boolean {
  if (st.isSymbolicLink()) {
    const target = readlinkSync(file);
    return !target.includes('/') && looksLikeOurName(target);
  }
  if (!st.isFile()) return false;
  return markerNode(readHeadSync(file, 512) ?? '') !== undefined;
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/**
 * Write a file pxebootd owns outright (pxelinux.cfg/default when default_template is set) through
 * its real boot directory: a link at the directory is a ConflictError, a link at the name is replaced.
 */
export async function writeOwnedFile(file: string, content: string): Promise<void> {
  await inBootDir(file, true, (here) => writeFileAtomic(here(path.basename(file)), content, { mode: 0o644 }), undefined);
}

/** One boot file (content) or link (target: a base name in the same directory) of a node. */
export type BootFileItem = { path: string; content: string } | { path: string; target: string };

/**
 * Put a node's boot files and links in place, in order: each file unless it already has exactly
 * this content (same inode then), each link atomically (temp symlink + rename) unless it already
 * points there. Something at a name that pxebootd did not write (a file with no marker, a link
 * elsewhere, a directory) is a ConflictError and stops the rest. Returns, per item, whether it was
 * (re)written. One call of the addon for each run of items in the same directory.
 */
export async function ensureBootFiles(items: readonly BootFileItem[]): Promise<boolean[]> {
  const out: boolean[] = [];
  for (let i = 0; i < items.length; ) {
    const dir = path.dirname(items[i]!.path);
    let j = i + 1;
    while (j < items.length && path.dirname(items[j]!.path) === dir) j++;
    const run = items.slice(i, j);
    if (native) out.push(...(await applyNative(native, dir, run)));
    else for (const it of run) out.push(await applySync(it));
    i = j;
  }
  return out;
}

function notOurs(it: BootFileItem): ConflictError {
  return 'content' in it
    ? new ConflictError(`${it.path} exists and is not a pxebootd file or link (no marker line); not replacing it`)
    : new ConflictError(`${it.path} exists and is not a pxebootd file or link; not replacing it`);
}

/** The addon's op for `it`; expectIno: the inode judged ours to replace (-1: none). */
function nativeOp(it: BootFileItem, expectIno: number): NativeOp {
  const link = 'target' in it;
  const name = path.basename(it.path);
  const ext = link ? 'lnk' : 'tmp';
  const temps: string[] = [];
  for (let t = 0; t < TEMP_TRIES; t++) temps.push(tempBaseName(name, ext));
  return { name, data: Buffer.from(link ? it.target : it.content), link, mode: 0o644, temps, expectIno };
}

/** The addon's answer to one apply call. */
type NativeAnswer = { dir?: NativeErrno; results: NativeResult[] };

/** One node's run of ops waiting for an addon call (see callCoalesced). */
interface PendingCall {
  mod: BootFilesAddon;
  dir: string;
  ops: NativeOp[];
  resolve: (a: NativeAnswer) => void;
  reject: (e: unknown) => void;
}

/** Addon calls in flight at once (of libuv's 4 pool threads); the ops queued meanwhile go together in the next calls. */
const CALLS_IN_FLIGHT = 2;
/**
 * Ops per coalesced call (the addon takes up to 1024): small enough that the first nodes of a
 * large batch are done, and free their queue slots, while the rest are still being written.
 */
const MAX_OPS_PER_CALL = 256;
let waiting: PendingCall[] = [];
let callsInFlight = 0;

/**
 * mod.apply(dir, ops) for one node, coalesced with the other nodes' runs for the same directory:
 * at most CALLS_IN_FLIGHT calls run at once, so in a storm the boot files of hundreds of nodes
 * take at most two pool threads (one directory: their creates and renames serialise in the kernel
 * anyway) and the mounts keep the others. Each node gets exactly the answer a call of its own would give:
 * the addon stops at the first op it cannot do (an error, or something else at the name), so the
 * nodes queued behind that op are sent again in the next call.
 */
function callCoalesced(mod: BootFilesAddon, dir: string, ops: NativeOp[]): Promise<NativeAnswer> {
  return new Promise((resolve, reject) => {
    waiting.push({ mod, dir, ops, resolve, reject });
    pumpCalls();
  });
}

function pumpCalls(): void {
  while (callsInFlight < CALLS_IN_FLIGHT && waiting.length > 0) {
    const first = waiting[0]!;
    const batch: PendingCall[] = [];
    const rest: PendingCall[] = [];
    let count = 0;
    // one pass, no splicing: a storm has thousands of nodes waiting
    for (const w of waiting) {
      if (w.mod === first.mod && w.dir === first.dir && (batch.length === 0 || count + w.ops.length <= MAX_OPS_PER_CALL)) {
        batch.push(w);
        count += w.ops.length;
      } else rest.push(w);
    }
    waiting = rest;
    callsInFlight++;
    runBatch(batch)
      // nothing in runBatch should throw; if it did, no node may wait for ever (settled ones ignore this)
      .catch((e: unknown) => {
        for (const w of batch) w.reject(e);
      })
      .finally(() => {
        callsInFlight--;
        pumpCalls();
      });
  }
}

async function runBatch(batch: PendingCall[]): Promise<void> {
  const { mod, dir } = batch[0]!;
  if (batch.length === 1) {
    const w = batch[0]!;
    await settle(w, () => mod.apply(dir, w.ops));
    return;
  }
  let answer: NativeAnswer;
  try {
    answer = await mod.apply(dir, batch.flatMap((w) => w.ops));
  } catch {
    // a refused op (a TypeError) is its node's error alone: each node's run is sent on its own
    for (const w of batch) await settle(w, () => mod.apply(dir, w.ops));
    return;
  }
  const { results } = answer;
  let off = 0;
  const again: PendingCall[] = [];
  for (const w of batch) {
    if (answer.dir) w.resolve({ dir: answer.dir, results: [] });
    else if (off < results.length) w.resolve({ results: results.slice(off, off + w.ops.length) });
    else again.push(w); // behind the op the addon stopped at: not tried yet
    off += w.ops.length;
  }
  // an answer that settled nobody would come back the same for ever: each node's run on its own
  if (again.length === batch.length) {
    for (const w of batch) await settle(w, () => mod.apply(dir, w.ops));
    return;
  }
  waiting = again.concat(waiting);
}

async function settle(w: PendingCall, call: () => Promise<NativeAnswer>): Promise<void> {
  try {
    w.resolve(await call());
  } catch (e) {
    w.reject(e);
  }
}

/** Is what the addon found (a link's target, a file's first bytes) pxebootd's to replace? */
function foundIsOurs(f: { kind: 'f' | 'l' | 'o'; head: Buffer }): boolean {
  if (f.kind === 'l') {
    const target = f.head.toString('utf8');
    return !target.includes('/') && looksLikeOurName(target);
  }
  return f.kind === 'f' && markerNode(f.head.toString('utf8')) !== undefined;
}

async function applyNative(mod: BootFilesAddon, dir: string, items: readonly BootFileItem[]): Promise<boolean[]> {
  const out: boolean[] = [];
  const judged = new Map<number, number>();
  let rounds = 0;
  for (let i = 0; i < items.length; ) {
    const r = await callCoalesced(mod, dir, items.slice(i).map((it, k) => nativeOp(it, judged.get(i + k) ?? -1)));
    if (r.dir) throw r.dir.code === 'ELOOP' || r.dir.code === 'ENOTDIR' ? await notADirectory(dir) : fsError(r.dir, dir);
    for (const x of r.results) {
      const it = items[i]!;
      if (x.state === -1) throw fsError(x, it.path);
      if (x.state === 2) {
        if (!foundIsOurs(x)) throw notOurs(it);
        // replaced only if it is still the inode judged here; changed meanwhile, it is judged again
        if (++rounds > TEMP_TRIES) throw new ConflictError(`${it.path} kept changing while pxebootd replaced it; not replacing it`);
        judged.set(i, x.ino);
        break;
      }
      out.push(x.state === 1);
      i++;
    }
  }
  return out;
}

/** The fallback: one item by synchronous calls (see readHeadSync). */
function applySync(it: BootFileItem): Promise<boolean> {
  return 'content' in it ? ensureFileSync(it.path, it.content) : ensureLinkSync(it.path, it.target);
}

/** Write the canonical file unless it already has exactly this content (same inode then). */
export async function ensureFile(file: string, content: string): Promise<boolean> {
  return (await ensureBootFiles([{ path: file, content }]))[0]!;
}

/** Point `link` at `target` (a base name in the same directory), atomically; no-op when it already does. */
export async function ensureLink(link: string, target: string): Promise<boolean> {
  return (await ensureBootFiles([{ path: link, target }]))[0]!;
}

/** ensureFile by synchronous calls (see readHeadSync): a few microseconds each. */
async function ensureFileSync(file: string, content: string): Promise<boolean> {
  return inBootDir(
    file,
    true,
    (here) => {
      const name = here(path.basename(file));
      const st = lstatSync(name, { throwIfNoEntry: false });
      // only a regular file is read, and only when its size could match
      if (st?.isFile() && st.size === Buffer.byteLength(content) && readExactlySync(name, st.size) === content) return false;
      if (st && !isOursSync(name, st)) throw new ConflictError(`${file} exists and is not a pxebootd file or link (no marker line); not replacing it`);
      writeFileAtomicSync(name, content, { mode: 0o644, noSync: true });
      return true;
    },
    false,
  );
}

/** ensureLink by synchronous calls. */
async function ensureLinkSync(link: string, target: string): Promise<boolean> {
  return inBootDir(
    link,
    true,
    (here) => {
      const name = here(path.basename(link));
      const st = lstatSync(name, { throwIfNoEntry: false });
      if (st?.isSymbolicLink() && readlinkSync(name) === target) return false;
      if (st && !isOursSync(name, st)) throw new ConflictError(`${link} exists and is not a pxebootd file or link; not replacing it`);
      let tmp = '';
      for (let i = 1; tmp === ''; i++) {
        const t = here(path.basename(tempNameFor(link, 'lnk')));
        try {
          symlinkSync(target, t);
          tmp = t;
        } catch (e) {
          if (errCode(e) !== 'EEXIST' || i >= TEMP_TRIES) throw e;
        }
      }
      try {
        renameSync(tmp, name);
      } catch (e) {
        try {
          unlinkSync(tmp);
        } catch {
          /* already gone */
        }
        throw e;
      }
      return true;
    },
    false,
  );
}

/** Is `file` a link to `canonicalBase`, or a regular file whose marker names `node`? */
async function belongsTo(file: string, node: string, canonicalBase: string): Promise<boolean> {
  const st = await lstat(file).catch(() => undefined);
  if (!st) return false;
  if (st.isSymbolicLink()) return (await readlink(file)) === canonicalBase;
  return st.isFile() && markerNode((await readHead(file)) ?? '') === node;
}

async function unlinkIfPresent(file: string): Promise<void> {
  await unlink(file).catch((e: NodeJS.ErrnoException) => (e.code === 'ENOENT' ? undefined : Promise.reject(e)));
}

/**
 * Remove a node's links, then its canonical file, touching only what is this node's. A boot
 * directory that is a link is skipped: nothing behind it can be ours (we never write through one).
 */
export async function removeBootFiles(specs: BootFileSpec[], node: string): Promise<string[]> {
  const removed: string[] = [];
  for (const s of specs) {
    const base = path.basename(s.canonical);
    await inBootDir(
      s.canonical,
      false,
      async (here) => {
        for (const f of [...s.links, s.canonical]) {
          if (path.dirname(f) !== path.dirname(s.canonical)) throw new Error(`boot file ${f} is not in ${path.dirname(s.canonical)}`);
          if (await belongsTo(here(path.basename(f)), node, base)) {
            await unlinkIfPresent(here(path.basename(f)));
            removed.push(f);
          }
        }
      },
      undefined,
    ).catch((e: unknown) => (e instanceof ConflictError ? undefined : Promise.reject(e)));
  }
  return removed;
}
