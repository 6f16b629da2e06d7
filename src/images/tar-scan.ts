// A streaming reader of tar headers (ustar, GNU long names, pax) and the safety rules an image
// tarball must pass before `tar -x` may touch it: no absolute or `..` member names, no member
// written through a symlink, no symlink whose relative target climbs out of the root, no hard link
// to anything outside the archive. Pure: it takes bytes and returns typed entries or problems.

/** One member as tar will extract it (long names and pax paths applied). */
export interface TarEntry {
  /** the name as stored */
  name: string;
  type: 'file' | 'hardlink' | 'symlink' | 'char' | 'block' | 'dir' | 'fifo';
  linkname: string;
  size: number;
}

const TYPES: Record<string, TarEntry['type']> = {
  '0': 'file', '\0': 'file', '7': 'file', '1': 'hardlink', '2': 'symlink', '3': 'char', '4': 'block', '5': 'dir', '6': 'fifo',
};
/** Cap on a pax or GNU long-name record: names are short, a huge one is an attack on memory. */
const META_LIMIT = 1 << 20;

/** A tarball that cannot be imported: `message` names the member and what is wrong. */
export class TarProblem extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'TarProblem';
  }
}

function cstr(b: Buffer, start: number, len: number): string {
  const slice = b.subarray(start, start + len);
  const nul = slice.indexOf(0);
  return (nul < 0 ? slice : slice.subarray(0, nul)).toString('utf8');
}

function num(b: Buffer, start: number, len: number): number {
  if (b[start]! & 0x80) {
    // GNU base-256: big-endian, the top bit of the first byte marks it
    let v = b[start]! & 0x7f;
    for (let i = 1; i < len; i++) v = v * 256 + b[start + i]!;
    return v;
  }
  const s = cstr(b, start, len).trim();
  if (s === '') return 0;
  if (!/^[0-7]+$/.test(s)) throw new TarProblem(`not a tar archive: bad number field ${JSON.stringify(s)}`);
  return parseInt(s, 8);
}

function checksumOk(h: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
  const stored = cstr(h, 148, 8).trim();
  return /^[0-7]+$/.test(stored) && parseInt(stored, 8) === sum;
}

function parsePax(data: Buffer): Map<string, string> {
  const out = new Map<string, string>();
  let p = 0;
  while (p < data.length) {
    const sp = data.indexOf(0x20, p);
    if (sp < 0) break;
    const len = parseInt(data.subarray(p, sp).toString('ascii'), 10);
    if (!Number.isInteger(len) || len <= 0 || p + len > data.length) throw new TarProblem('not a tar archive: bad pax record');
    const rec = data.subarray(sp + 1, p + len - 1).toString('utf8');
    const eq = rec.indexOf('=');
    if (eq > 0) out.set(rec.slice(0, eq), rec.slice(eq + 1));
    p += len;
  }
  return out;
}

/** Feeds tar bytes in any chunking; `entries()` yields members as their headers complete. */
export class TarScanner {
  private pending: Buffer[] = [];
  private pendingLen = 0;
  private skip = 0;
  /** collecting the data of a meta member (pax, long name) */
  private meta: { kind: string; size: number; padded: number } | undefined;
  private longName: string | undefined;
  private longLink: string | undefined;
  private pax = new Map<string, string>();
  private globalPax = new Map<string, string>();
  private zeros = 0;
  private out: TarEntry[] = [];
  /** true after the end-of-archive marker */
  ended = false;
  sawHeader = false;

  push(chunk: Buffer): TarEntry[] {
    let c = chunk;
    while (c.length > 0 && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, c.length);
        this.skip -= n;
        c = c.subarray(n);
        continue;
      }
      const need = this.meta ? this.meta.padded : 512;
      const take = Math.min(need - this.pendingLen, c.length);
      this.pending.push(c.subarray(0, take));
      this.pendingLen += take;
      c = c.subarray(take);
      if (this.pendingLen < need) break;
      const block = Buffer.concat(this.pending, this.pendingLen);
      this.pending = [];
      this.pendingLen = 0;
      if (this.meta) this.finishMeta(block);
      else this.header(block);
    }
    const done = this.out;
    this.out = [];
    return done;
  }

  /** Call at the end of input: a truncated archive is a problem. */
  end(): void {
    if (!this.sawHeader) throw new TarProblem('not a tar archive (no member found)');
    if (this.skip > 0 || this.pendingLen > 0 || this.meta) throw new TarProblem('the archive is truncated');
  }

  private finishMeta(block: Buffer): void {
    const { kind, size } = this.meta!;
    this.meta = undefined;
    const data = block.subarray(0, size);
    if (kind === 'L') this.longName = cstr(data, 0, data.length);
    else if (kind === 'K') this.longLink = cstr(data, 0, data.length);
    else if (kind === 'x') for (const [k, v] of parsePax(data)) this.pax.set(k, v);
    else for (const [k, v] of parsePax(data)) this.globalPax.set(k, v);
  }

  private header(h: Buffer): void {
    if (h.every((b) => b === 0)) {
      if (++this.zeros === 2) this.ended = true;
      return;
    }
    if (this.zeros > 0) throw new TarProblem('not a tar archive: data after an empty block');
    if (!checksumOk(h)) throw new TarProblem(this.sawHeader ? 'the archive is corrupt (bad header checksum)' : 'not a tar archive (bad header checksum)');
    this.sawHeader = true;
    const flag = String.fromCharCode(h[156]!);
    let size = num(h, 124, 12);
    if (flag === 'L' || flag === 'K' || flag === 'x' || flag === 'g') {
      if (size > META_LIMIT) throw new TarProblem(`a ${flag} header of ${size} bytes is larger than ${META_LIMIT}`);
      this.meta = { kind: flag, size, padded: Math.ceil(size / 512) * 512 };
      if (this.meta.padded === 0) this.finishMeta(Buffer.alloc(0));
      return;
    }
    const type = TYPES[flag];
    const magic = h.subarray(257, 263).toString('latin1');
    let name = cstr(h, 0, 100);
    if (magic === 'ustar\0') {
      const prefix = cstr(h, 345, 155);
      if (prefix) name = `${prefix}/${name}`;
    }
    const pax = new Map([...this.globalPax, ...this.pax]);
    name = this.longName ?? pax.get('path') ?? pax.get('GNU.sparse.name') ?? name;
    const linkname = this.longLink ?? pax.get('linkpath') ?? cstr(h, 157, 100);
    if (pax.has('size')) size = Number(pax.get('size'));
    this.longName = this.longLink = undefined;
    this.pax = new Map();
    if (type === undefined) throw new TarProblem(`${JSON.stringify(name)}: unsupported tar member type ${JSON.stringify(flag)}`);
    const dataSize = type === 'file' ? size : 0;
    this.skip = Math.ceil(dataSize / 512) * 512;
    this.out.push({ name, type, linkname, size: dataSize });
  }
}

/** Split a member name into components; throws on absolute names and `..`. */
export function memberParts(name: string, what = 'member'): string[] {
  if (name.startsWith('/')) throw new TarProblem(`${what} ${JSON.stringify(name)} is an absolute path`);
  const parts = name.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw new TarProblem(`${what} ${JSON.stringify(name)} contains ".."`);
  if (parts.some((p) => p.includes('\0'))) throw new TarProblem(`${what} ${JSON.stringify(name)} contains a NUL byte`);
  return parts;
}

/** Where a relative symlink target lands, as components from the root; undefined when it climbs out. */
export function resolveRelative(dirParts: string[], target: string): string[] | undefined {
  const out = [...dirParts];
  for (const p of target.split('/')) {
    if (p === '' || p === '.') continue;
    if (p === '..') {
      if (out.length === 0) return undefined;
      out.pop();
    } else out.push(p);
  }
  return out;
}

/**
 * The rules, applied member by member in archive order. Absolute symlink targets are kept: inside a
 * root file system they point into that root, and no member is ever written through a symlink.
 */
export class TarPolicy {
  private symlinks = new Set<string>();
  private nonDirs = new Set<string>();
  count = 0;

  check(e: TarEntry): void {
    this.count++;
    const parts = memberParts(e.name);
    const key = parts.join('/');
    if (parts.length === 0 && e.type !== 'dir') throw new TarProblem(`member ${JSON.stringify(e.name)} is the root but not a directory`);
    for (let i = 1; i < parts.length; i++) {
      const prefix = parts.slice(0, i).join('/');
      if (this.symlinks.has(prefix)) throw new TarProblem(`member ${JSON.stringify(e.name)} would be written through the symlink ${JSON.stringify(prefix)}`);
    }
    if (e.type === 'symlink') {
      if (e.linkname === '') throw new TarProblem(`symlink ${JSON.stringify(e.name)} has an empty target`);
      if (!e.linkname.startsWith('/') && resolveRelative(parts.slice(0, -1), e.linkname) === undefined) {
        throw new TarProblem(`symlink ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)} points outside the image`);
      }
      this.symlinks.add(key);
    } else this.symlinks.delete(key);
    if (e.type === 'hardlink') {
      const target = memberParts(e.linkname, `hard link ${JSON.stringify(e.name)} ->`);
      const t = target.join('/');
      for (let i = 1; i <= target.length; i++) {
        if (this.symlinks.has(target.slice(0, i).join('/')) && i < target.length) throw new TarProblem(`hard link ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)} goes through a symlink`);
      }
      if (!this.nonDirs.has(t)) throw new TarProblem(`hard link ${JSON.stringify(e.name)} -> ${JSON.stringify(e.linkname)} names no earlier member of the archive`);
    }
    if (e.type === 'dir') this.nonDirs.delete(key);
    else this.nonDirs.add(key);
  }
}
