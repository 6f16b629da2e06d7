// Writes and removes a node's boot files: the canonical file atomically (temp + rename), then each
// link atomically (temp symlink + rename), so a TFTP server never sees a partial file or a
// missing name. A file we did not write (no marker) is never overwritten or removed.
import { lstat, readFile, readlink, rename, symlink, unlink, mkdir, open } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../src/atomic-file.ts';
import { ConflictError } from '../src/errors.ts';
import { renderTemplate, TemplateError } from '../src/template.ts';
import { readTemplateFile } from '../src/safe-open.ts';
import { addMarker, looksLikeOurName, markerNode, type BootFileSpec } from './boot-files.ts';

const TEMPLATE_KEY: Record<BootFileSpec['loader'], string> = { pxelinux: 'pxe_template', grub: 'grub_template', ipxe: 'ipxe_template' };

/** Read the first bytes of a file (enough for the marker), or undefined if it does not exist. */
export async function readHead(file: string, bytes = 512): Promise<string | undefined> {
  let fh;
  try {
    fh = await open(file, 'r');
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw e;
  }
  try {
    const buf = Buffer.alloc(bytes);
    const { bytesRead } = await fh.read(buf, 0, bytes, 0);
    return buf.subarray(0, bytesRead).toString('utf8');
  } finally {
    await fh.close();
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

/** Is the thing at `file` ours to replace or remove? (absent counts as ours) */
async function isOurs(file: string): Promise<boolean> {
  let st;
  try {
    st = await lstat(file);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return true;
    throw e;
  }
  if (st.isSymbolicLink()) {
    const target = await readlink(file);
    return !target.includes('/') && looksLikeOurName(target);
  }
  if (!st.isFile()) return false;
  return markerNode((await readHead(file)) ?? '') !== undefined;
}

function errCode(e: unknown): string | undefined {
  return (e as NodeJS.ErrnoException).code;
}

/** Write the canonical file unless it already has exactly this content (same inode then). */
export async function ensureFile(file: string, content: string): Promise<boolean> {
  let cur: string | undefined;
  let missing = false;
  try {
    cur = await readFile(file, 'utf8');
  } catch (e) {
    if (errCode(e) === 'ENOENT') missing = true;
    else if (errCode(e) !== 'EISDIR') throw e;
  }
  if (cur === content) return false;
  if (!missing && !(await isOurs(file))) throw new ConflictError(`${file} exists and is not a pxebootd file or link (no marker line); not replacing it`);
  try {
    await writeFileAtomic(file, content, { mode: 0o644, noSync: true });
  } catch (e) {
    if (errCode(e) !== 'ENOENT') throw e;
    await mkdir(path.dirname(file), { recursive: true, mode: 0o755 });
    await writeFileAtomic(file, content, { mode: 0o644, noSync: true });
  }
  return true;
}

/** Point `link` at `target` (a base name in the same directory), atomically; no-op when it already does. */
export async function ensureLink(link: string, target: string): Promise<boolean> {
  let cur: string | undefined;
  let missing = false;
  try {
    cur = await readlink(link);
  } catch (e) {
    if (errCode(e) === 'ENOENT') missing = true;
    else if (errCode(e) !== 'EINVAL') throw e; // EINVAL: not a symlink
  }
  if (cur === target) return false;
  if (!missing && !(await isOurs(link))) throw new ConflictError(`${link} exists and is not a pxebootd file or link; not replacing it`);
  const tmp = path.join(path.dirname(link), `.${path.basename(link)}.${process.pid}.${randomBytes(4).toString('hex')}.lnk`);
  await symlink(target, tmp);
  try {
    await rename(tmp, link);
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
  return true;
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

/** Remove a node's links, then its canonical file, touching only what is this node's. */
export async function removeBootFiles(specs: BootFileSpec[], node: string): Promise<string[]> {
  const removed: string[] = [];
  for (const s of specs) {
    const base = path.basename(s.canonical);
    for (const l of s.links) {
      if (await belongsTo(l, node, base)) {
        await unlinkIfPresent(l);
        removed.push(l);
      }
    }
    if (await belongsTo(s.canonical, node, base)) {
      await unlinkIfPresent(s.canonical);
      removed.push(s.canonical);
    }
  }
  return removed;
}
