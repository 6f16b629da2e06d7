// Image names and version ids: the only strings that become path components under images_dir, so
// they are checked here once, before any path is built. Pure.
import { randomBytes } from 'node:crypto';

const SAFE = /^[A-Za-z0-9._-]+$/;
const MAX_LEN = 128;

/** Why `s` cannot be an image name or version id, or undefined when it can (`what` names it in the message). */
export function checkComponent(s: string, what: 'image name' | 'version'): string | undefined {
  if (s.length === 0) return `${what} is empty`;
  if (s.length > MAX_LEN) return `${what} ${JSON.stringify(s.slice(0, 40))}... is longer than ${MAX_LEN} characters`;
  if (!SAFE.test(s)) return `${what} ${JSON.stringify(s)} has characters outside [A-Za-z0-9._-]`;
  // dot-names are the store's own (.tmp-*, .edit-*); '.' and '..' are never names
  if (s.startsWith('.')) return `${what} ${JSON.stringify(s)} must not start with "."`;
  if (what === 'version' && s === 'current') return `version "current" is reserved for the current pointer`;
  if (what === 'image name' && s.startsWith('-')) return `image name ${JSON.stringify(s)} must not start with "-"`;
  return undefined;
}

/** Names that are files of the store itself, never versions. */
export const RESERVED = new Set(['current', 'history']);

/**
 * A new version id: UTC time to the millisecond plus a random suffix, e.g. 20261204T210300.123Z-9f3a1c.
 * Ids sort by time as plain strings, and two adds in the same millisecond still differ.
 */
export function newVersionId(now: Date = new Date(), suffix: string = randomBytes(3).toString('hex')): string {
  const iso = now.toISOString(); // 2026-12-04T21:03:00.123Z
  return `${iso.slice(0, 4)}${iso.slice(5, 7)}${iso.slice(8, 10)}T${iso.slice(11, 13)}${iso.slice(14, 16)}${iso.slice(17, 23)}Z-${suffix}`;
}

/** Whether `s` is a directory entry that may be a version (not a dot-entry, not a store file). */
export function isVersionEntry(s: string): boolean {
  return !RESERVED.has(s) && checkComponent(s, 'version') === undefined;
}
