// Pure parser for /proc/self/mountinfo, written to stay cheap at thousands of mounts: one pass,
// no regex per field, and an optional prefix filter so only lines under managed dirs are unpacked.
import path from 'node:path';

/** One mount as the kernel reports it (paths unescaped). */
export interface MountEntry {
  mountPoint: string;
  fstype: string;
  source: string;
  mountOptions: string;
  /** per-superblock options, e.g. lowerdir=..., nfs_export=on (values unescaped) */
  superOptions: Map<string, string>;
}

/** mountinfo escapes space, tab, newline and backslash (and, in option values, `,` and `=`) as \ooo. */
export function unescapeMountinfo(s: string): string {
  if (!s.includes('\\')) return s;
  return s.replace(/\\([0-7]{3})/g, (_m, o: string) => String.fromCharCode(parseInt(o, 8)));
}

/** `a=b,c` super options (mountinfo's, or statmount's, escaped alike) into a map of unescaped keys and values. */
export function parseSuperOptions(raw: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of raw.split(',')) {
    if (part === '') continue;
    const eq = part.indexOf('=');
    if (eq < 0) out.set(unescapeMountinfo(part), '');
    else out.set(unescapeMountinfo(part.slice(0, eq)), unescapeMountinfo(part.slice(eq + 1)));
  }
  return out;
}

/**
 * Parse mountinfo text into mount point -> entry (the last, i.e. topmost, mount at a point wins).
 * `under` limits the result to mount points equal to or below one of the given directories;
 * malformed lines are skipped (the kernel does not write them, but a fuzzer does).
 */
export function parseMountinfo(text: string, under?: readonly string[]): Map<string, MountEntry> {
  const out = new Map<string, MountEntry>();
  const prefixes = under?.map((d) => path.resolve(d));
  let start = 0;
  while (start < text.length) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const line = text.slice(start, end);
    start = end + 1;
    // fields: id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    let p = 0;
    for (let i = 0; i < 4 && p >= 0; i++) {
      const s = line.indexOf(' ', p);
      p = s < 0 ? -1 : s + 1;
    }
    if (p <= 0) continue;
    const mpEnd = line.indexOf(' ', p);
    if (mpEnd < 0) continue;
    const mountPoint = unescapeMountinfo(line.slice(p, mpEnd));
    if (prefixes && !prefixes.some((d) => mountPoint === d || mountPoint.startsWith(d === '/' ? d : d + '/'))) continue;
    const sep = line.indexOf(' - ', mpEnd);
    if (sep < 0) continue;
    const optEnd = line.indexOf(' ', mpEnd + 1);
    const mountOptions = line.slice(mpEnd + 1, optEnd < 0 || optEnd > sep ? sep : optEnd);
    const tail = line.slice(sep + 3).split(' ');
    if (tail.length < 3) continue;
    out.set(mountPoint, {
      mountPoint,
      fstype: tail[0]!,
      source: unescapeMountinfo(tail[1]!),
      mountOptions,
      superOptions: parseSuperOptions(tail.slice(2).join(' ')),
    });
  }
  return out;
}

/**
 * Like parseMountinfo, but over the raw bytes and unpacking only the lines whose (unescaped)
 * mount point `keep` accepts. At 10,000 overlays the file is ~4 MB: decoding it whole into one
 * string, or caching its lines, kept megabytes alive per read (a slice of a string pins the whole
 * string), while this decodes a short mount point per line and a fresh string per kept line.
 */
export function scanMountinfo(buf: Uint8Array, keep: (mountPoint: string) => boolean): Map<string, MountEntry> {
  const b = Buffer.isBuffer(buf) ? buf : Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const out = new Map<string, MountEntry>();
  let start = 0;
  while (start < b.length) {
    let end = b.indexOf(0x0a, start);
    if (end < 0) end = b.length;
    // fields: id parent maj:min root mountpoint ...; the mount point is between the 4th and 5th space
    let p = start;
    for (let i = 0; i < 4 && p >= 0; i++) {
      const s = b.indexOf(0x20, p);
      p = s < 0 || s >= end ? -1 : s + 1;
    }
    const mpEnd = p < 0 ? -1 : b.indexOf(0x20, p);
    if (p >= 0 && mpEnd >= 0 && mpEnd < end && keep(unescapeMountinfo(b.toString('utf8', p, mpEnd)))) {
      for (const [mp, e] of parseMountinfo(b.toString('utf8', start, end))) out.set(mp, e); // topmost wins
    }
    start = end + 1;
  }
  return out;
}
