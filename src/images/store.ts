// The on-disk layout of the image store and its pointers: images_dir/<name>/<version>/ holds a
// version, images_dir/<name>/current is a symlink to the current version's id (replaced by rename,
// so a reader sees the old or the new one), images_dir/<name>/history lists promotions, oldest
// first, for rollback. The daemon reads the current version with readCurrent at a node's provision
// and next boot (src/daemon/image-switch.ts); nothing here follows a link it did not validate.
import { lstat, mkdir, readdir, readFile, readlink, rename, symlink, unlink } from 'node:fs/promises';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import { writeFileAtomic } from '../atomic-file.ts';
import { PxeError } from '../errors.ts';
import { checkComponent, isVersionEntry } from './names.ts';

/** Throw a USAGE error when `s` is not a valid image name or version id. */
export function validName(s: string, what: 'image name' | 'version'): string {
  const why = checkComponent(s, what);
  if (why) throw new PxeError('USAGE', why);
  return s;
}

/** images_dir/<name>, after validating the name. */
export function imageDir(imagesDir: string, name: string): string {
  return path.join(imagesDir, validName(name, 'image name'));
}

/** images_dir/<name>/<version>, after validating both. */
export function versionDir(imagesDir: string, name: string, version: string): string {
  return path.join(imageDir(imagesDir, name), validName(version, 'version'));
}

/** The ids of an image's versions, oldest first (ids sort by time); [] when the image has none. */
export async function listVersions(imagesDir: string, name: string): Promise<string[]> {
  const dir = imageDir(imagesDir, name);
  let entries;
  try {
    entries = await readdir(dir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return entries.filter((d) => d.isDirectory() && isVersionEntry(d.name)).map((d) => d.name).sort();
}

/** The image names under images_dir, sorted. */
export async function listImages(imagesDir: string): Promise<string[]> {
  let entries;
  try {
    entries = await readdir(imagesDir, { withFileTypes: true });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw e;
  }
  return entries.filter((d) => d.isDirectory() && checkComponent(d.name, 'image name') === undefined).map((d) => d.name).sort();
}

/** The current version's id, or undefined when none was promoted. Refuses a pointer it did not write. */
export async function readCurrent(imagesDir: string, name: string): Promise<string | undefined> {
  const link = path.join(imageDir(imagesDir, name), 'current');
  let target: string;
  try {
    target = await readlink(link);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return undefined;
    if (code === 'EINVAL') throw new PxeError('STATE', `${link} is not a symlink; expected a link to a version id`);
    throw e;
  }
  if (checkComponent(target, 'version') !== undefined) throw new PxeError('STATE', `${link} points to ${JSON.stringify(target)}, which is not a version id of this image`);
  return target;
}

/** What a node boots on: the current version of an image and its directory. */
export interface CurrentVersion {
  version: string;
  path: string;
}

/** The current version of `name` and its directory (checked to be a real directory); throws when there is none. */
export async function resolveCurrent(imagesDir: string, name: string): Promise<CurrentVersion> {
  const version = await readCurrent(imagesDir, name);
  if (version === undefined) throw new PxeError('STATE', `image ${name} has no current version (pxebootd image promote ${name} VERSION)`);
  const dir = versionDir(imagesDir, name, version);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new PxeError('STATE', `image ${name}: current version ${version} is missing (${dir})`);
  return { version, path: dir };
}

/** One promotion, as kept in the history file. */
export interface Promotion {
  time: string;
  version: string;
}

/** Parse the history file: one "TIME VERSION" per line; lines that are not that are skipped. Pure. */
export function parseHistory(text: string): Promotion[] {
  const out: Promotion[] = [];
  for (const line of text.split('\n')) {
    const [time, version, ...rest] = line.trim().split(/\s+/);
    if (!time || !version || rest.length > 0 || !/^\d{4}-\d\d-\d\dT[\d:.]+Z$/.test(time) || checkComponent(version, 'version') !== undefined) continue;
    out.push({ time, version });
  }
  return out;
}

export function formatHistory(h: readonly Promotion[]): string {
  return h.map((p) => `${p.time} ${p.version}\n`).join('');
}

export async function readHistory(imagesDir: string, name: string): Promise<Promotion[]> {
  const text = await readFile(path.join(imageDir(imagesDir, name), 'history'), 'utf8').catch((e: NodeJS.ErrnoException) => {
    if (e.code === 'ENOENT') return '';
    throw e;
  });
  return parseHistory(text);
}

/** Point `current` at `version` (temp symlink + rename) and write the new history. */
export async function writeCurrent(imagesDir: string, name: string, version: string, history: readonly Promotion[]): Promise<void> {
  const dir = imageDir(imagesDir, name);
  validName(version, 'version');
  await writeFileAtomic(path.join(dir, 'history'), formatHistory(history), { mode: 0o644 });
  const tmp = path.join(dir, `.current.${process.pid}.${randomBytes(4).toString('hex')}`);
  await symlink(version, tmp);
  try {
    await rename(tmp, path.join(dir, 'current'));
  } catch (e) {
    await unlink(tmp).catch(() => {});
    throw e;
  }
}

/** Make `version` current, appending it to the history. */
export async function promote(imagesDir: string, name: string, version: string, now = new Date()): Promise<void> {
  const dir = versionDir(imagesDir, name, version);
  const st = await lstat(dir).catch(() => undefined);
  if (!st?.isDirectory()) throw new PxeError('USAGE', `image ${name} has no version ${version} (see pxebootd image list ${name})`);
  const history = await readHistory(imagesDir, name);
  await writeCurrent(imagesDir, name, version, [...history, { time: now.toISOString(), version }]);
}

/**
 * The version rollback goes back to, and the history after it: the promotions after the last one of
 * another still-present version are dropped. Pure.
 */
export function planRollback(history: readonly Promotion[], current: string | undefined, present: ReadonlySet<string>): { version: string; history: Promotion[] } | undefined {
  for (let i = history.length - 1; i >= 0; i--) {
    const p = history[i]!;
    if (p.version !== current && present.has(p.version)) return { version: p.version, history: history.slice(0, i + 1) };
  }
  return undefined;
}

/** Promote the previous current version; returns its id. */
export async function rollback(imagesDir: string, name: string): Promise<string> {
  const current = await readCurrent(imagesDir, name);
  const plan = planRollback(await readHistory(imagesDir, name), current, new Set(await listVersions(imagesDir, name)));
  if (!plan) throw new PxeError('STATE', `image ${name}: no earlier version in its history to roll back to`);
  await writeCurrent(imagesDir, name, plan.version, plan.history);
  return plan.version;
}

/** Create images_dir/<name> when missing. */
export async function ensureImageDir(imagesDir: string, name: string): Promise<string> {
  const dir = imageDir(imagesDir, name);
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const st = await lstat(dir);
  if (!st.isDirectory()) throw new PxeError('STATE', `${dir} is not a directory`);
  return dir;
}
