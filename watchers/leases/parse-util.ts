// Field checks shared by the lease parsers: fast paths for the common well-formed case (a 100,000-line
// dnsmasq file must parse in well under 100 ms), falling back to src/validate.ts for everything else.
import { normalizeHostname, normalizeMac, printable } from '../../src/validate.ts';
import type { BadInput } from '../../src/types.ts';

function isHex(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** "52:54:00:AB:cd:ef" -> "52:54:00:ab:cd:ef"; a 6-octet MAC in any form normalizeMac accepts; else undefined. */
export function checkMac(s: string): string | undefined {
  if (s.length === 17) {
    let ok = true;
    let upper = false;
    for (let i = 0; i < 17; i++) {
      const c = s.charCodeAt(i);
      if (i % 3 === 2 ? c !== 58 : !isHex(c)) {
        ok = false;
        break;
      }
      if (c >= 65 && c <= 70) upper = true;
    }
    if (ok) return upper ? s.toLowerCase() : s;
  }
  return normalizeMac(s);
}

/** Strict dotted quad (no leading zeros), without a regex per octet. */
export function checkIPv4(s: string): boolean {
  return checkIPv4At(s, 0, s.length);
}

/** checkIPv4 on text[start, end), without slicing it out first. */
export function checkIPv4At(text: string, start: number, end: number): boolean {
  const n = end - start;
  if (n < 7 || n > 15) return false;
  let dots = 0;
  let val = 0;
  let digits = 0;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (digits === 0) return false;
      dots++;
      val = 0;
      digits = 0;
    } else if (c >= 48 && c <= 57) {
      if (digits === 1 && val === 0) return false;
      val = val * 10 + (c - 48);
      digits++;
      if (val > 255) return false;
    } else return false;
  }
  return dots === 3 && digits > 0;
}

/** text[start, end) is a lower-case "xx:xx:xx:xx:xx:xx" MAC (the form dnsmasq writes): no slice, no copy. */
export function isLowerMacAt(text: string, start: number, end: number): boolean {
  if (end - start !== 17) return false;
  for (let i = 0; i < 17; i++) {
    const c = text.charCodeAt(start + i);
    if (i % 3 === 2 ? c !== 58 : !((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Unsigned decimal integer (no sign, no exponent), or undefined. */
export function checkUint(s: string): number | undefined {
  if (s.length === 0 || s.length > 15) return undefined;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return undefined;
  }
  return Number(s);
}

/**
 * Hostnames are untrusted: RFC 1123 names pass (lower-cased, one trailing dot dropped), anything
 * else is dropped from the lease and reported to `bad`.
 */
export function checkHostname(raw: string | undefined, bad: BadInput[], where: Omit<BadInput, 'reason' | 'sample'>): string | undefined {
  if (raw === undefined || raw === '' || raw === '*') return undefined;
  const fast = fastHostname(raw);
  if (fast !== undefined) return fast;
  const t = raw.length > 1 && raw.endsWith('.') ? raw.slice(0, -1) : raw;
  const h = normalizeHostname(t);
  if (h === undefined) bad.push({ ...where, reason: 'invalid hostname (not RFC 1123): dropped, lease kept', sample: printable(raw) });
  return h;
}

/** The common case without allocation: an already lower-case RFC 1123 name is returned as is. */
function fastHostname(s: string): string | undefined {
  return isLowerHostnameAt(s, 0, s.length) ? s : undefined;
}

/** text[start, end) is an already lower-case RFC 1123 name (nothing to normalise), checked in place. */
export function isLowerHostnameAt(text: string, start: number, end: number): boolean {
  const n = end - start;
  if (n === 0 || n > 253) return false;
  let label = 0;
  let prev = 46;
  for (let i = start; i < end; i++) {
    const c = text.charCodeAt(i);
    if (c === 46) {
      if (label === 0 || prev === 45) return false;
      label = 0;
    } else if ((c >= 97 && c <= 122) || (c >= 48 && c <= 57) || (c === 45 && label > 0)) {
      if (++label > 63) return false;
    } else return false;
    prev = c;
  }
  return !(label === 0 || prev === 45);
}

/** Bad lines of one read that carry their own entry; a file of garbage costs a count, not 200,000 samples. */
export const BAD_LINES_PER_READ = 100;

const overflow = new WeakMap<BadInput[], number>();

/** Adds the BadInput that `make` builds, or only counts it once `bad` holds BAD_LINES_PER_READ entries. */
export function reportBad(bad: BadInput[], make: () => BadInput): void {
  if (bad.length < BAD_LINES_PER_READ) bad.push(make());
  else overflow.set(bad, (overflow.get(bad) ?? 0) + 1);
}

/** Ends a read: the lines reportBad only counted become one last entry with their number. */
export function closeBad(bad: BadInput[], source: string): void {
  const n = overflow.get(bad);
  if (n === undefined) return;
  overflow.delete(bad);
  bad.push({ source, reason: `${n} more bad lines in this read (only the first ${BAD_LINES_PER_READ} are shown one by one)`, sample: '' });
}

/** A BadInput with a truncated printable sample. */
export function badInput(source: string, at: { line?: number; offset?: number }, reason: string, sample: string): BadInput {
  return { source, ...at, reason, sample: printable(sample) };
}

/**
 * A copy of `s` that does not pin the whole file text it was sliced from (V8 keeps slices >= 13 chars
 * as views into their parent). Used where leases outlive the read that produced them.
 */
export function detach(s: string): string {
  return s.length < 13 ? s : (' ' + s).slice(1);
}

/** A lease whose strings are detached from the text they were parsed out of. */
export function detachLease<T extends { ip: string; mac?: string; hostname?: string }>(l: T): T {
  const c = { ...l, ip: detach(l.ip) };
  if (l.mac !== undefined) c.mac = detach(l.mac);
  if (l.hostname !== undefined) c.hostname = detach(l.hostname);
  return c;
}
