// Helpers shared by the lease parsers: the lease's hostname rule, bounded bad-line reports and
// detached strings. The MAC, IPv4 and hostname checks themselves live in src/validate.ts.
import { isLowerHostnameAt, normalizeHostname, printable } from '../../src/validate.ts';
import type { BadInput } from '../../src/types.ts';

/** Unsigned decimal integer (no sign, no exponent), or undefined. */
export function parseUint(s: string): number | undefined {
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
export function leaseHostname(raw: string | undefined, bad: BadInput[], where: Omit<BadInput, 'reason' | 'sample'>): string | undefined {
  if (raw === undefined || raw === '' || raw === '*') return undefined;
  if (isLowerHostnameAt(raw, 0, raw.length)) return raw;
  const t = raw.length > 1 && raw.endsWith('.') ? raw.slice(0, -1) : raw;
  const h = normalizeHostname(t);
  if (h === undefined) bad.push({ ...where, reason: 'invalid hostname (not RFC 1123): dropped, lease kept', sample: printable(raw) });
  return h;
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
