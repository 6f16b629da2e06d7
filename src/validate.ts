// Client data is untrusted: MACs, IPs, hostnames and names derived from them pass through here
// before they reach a path, a template, an exports line or a log field. This is the one home of
// the MAC, IPv4 and hostname checks; each name says what it returns:
//   isX(s): boolean                      - is `s` a valid X?
//   isXAt(text, start, end): boolean     - the same test on text[start, end), without slicing (parsers)
//   normalizeX(s): string | undefined    - the canonical form, or undefined when `s` is not an X
//   xError(s): string | undefined        - an error message for config and CLI, or undefined when fine
import path from 'node:path';

const MAC_RE = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;
const MAC_RAW_RE = /^[0-9a-f]{12}$/i;

function isHexCode(c: number): boolean {
  return (c >= 48 && c <= 57) || (c >= 97 && c <= 102) || (c >= 65 && c <= 70);
}

/** "52-54-00-AB-CD-EF" | "52:54:00:ab:cd:ef" | "525400abcdef" -> "52:54:00:ab:cd:ef"; anything else -> undefined */
export function normalizeMac(input: string): string | undefined {
  // Lease parsers call this once per line: the colon form is checked without a regex or a copy.
  if (input.length === 17) {
    let ok = true;
    let upper = false;
    for (let i = 0; i < 17; i++) {
      const c = input.charCodeAt(i);
      if (i % 3 === 2 ? c !== 58 : !isHexCode(c)) {
        ok = false;
        break;
      }
      if (c >= 65 && c <= 70) upper = true;
    }
    if (ok) return upper ? input.toLowerCase() : input;
  }
  const s = input.trim();
  if (MAC_RAW_RE.test(s)) return s.toLowerCase().match(/../g)!.join(':');
  const m = MAC_RE.exec(s);
  if (!m) return undefined;
  return m.slice(1, 7).join(':').toLowerCase();
}

/** "52:54:00:ab:cd:ef" -> "52-54-00-ab-cd-ef" (pxelinux/GRUB file names, after "01-") */
export function macHyphen(mac: string): string {
  return mac.replace(/:/g, '-');
}

/** Is `s` a MAC normalizeMac accepts (any common notation)? */
export function isMac(s: string): boolean {
  return normalizeMac(s) !== undefined;
}

/** text[start, end) is a lower-case "xx:xx:xx:xx:xx:xx" MAC (the form dnsmasq writes), checked in place. */
export function isLowerMacAt(text: string, start: number, end: number): boolean {
  if (end - start !== 17) return false;
  for (let i = 0; i < 17; i++) {
    const c = text.charCodeAt(start + i);
    if (i % 3 === 2 ? c !== 58 : !((c >= 48 && c <= 57) || (c >= 97 && c <= 102))) return false;
  }
  return true;
}

/** Config and CLI wording for a value that is not a MAC. */
export function macError(s: string): string | undefined {
  return isMac(s) ? undefined : `expected a MAC address such as 52:54:00:12:34:56, found ${JSON.stringify(s)}`;
}

/** Strict dotted-quad IPv4, no leading zeros (which some parsers read as octal). */
export function isIPv4(s: string): boolean {
  return isIPv4At(s, 0, s.length);
}

/** isIPv4 on text[start, end), so lease parsers need not slice the field out first. */
export function isIPv4At(text: string, start: number, end: number): boolean {
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

/** Config and CLI wording for a value that is not a strict dotted quad. */
export function ipv4Error(s: string): string | undefined {
  return isIPv4(s) ? undefined : `expected a dotted-quad IPv4 address such as 10.0.0.1, found ${JSON.stringify(s)}`;
}

/** Accepts "::ffff:1.2.3.4" (IPv4-mapped) as well; returns the dotted quad or undefined. */
export function normalizeIPv4(input: string): string | undefined {
  let s = input.trim();
  if (s.toLowerCase().startsWith('::ffff:')) s = s.slice(7);
  return isIPv4(s) ? s : undefined;
}

/** Dotted quad -> unsigned 32-bit int, for subnet matching and hex names (the address must be valid). */
export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

/** Unsigned 32-bit int -> dotted quad: the inverse of ipToInt. */
export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

/** "10.99.0.50" -> "0A630032": pxelinux's and fuse_pxebootfs's node name */
export function ipToHex(ip: string): string {
  return ipToInt(ip).toString(16).toUpperCase().padStart(8, '0');
}

/** "0A630032" -> "10.99.0.50"; undefined unless exactly 8 hex digits */
export function hexToIp(hex: string): string | undefined {
  if (!/^[0-9A-Fa-f]{8}$/.test(hex)) return undefined;
  return intToIp(parseInt(hex, 16));
}

const LABEL_RE = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/;

/** RFC 1123 host name: dot-separated labels of [a-z0-9-], no leading/trailing hyphen, <= 253 chars. */
export function isHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.toLowerCase().split('.').every((l) => LABEL_RE.test(l));
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

/** Config and CLI wording for a value that is not an RFC 1123 host name. */
export function hostnameError(s: string): string | undefined {
  return isHostname(s) ? undefined : `expected an RFC 1123 host name (letters, digits, "-", dot-separated), found ${JSON.stringify(s)}`;
}

/**
 * Lower-cased hostname if valid, else undefined. The caller logs the rejection. Trailing NULs are
 * dropped first, as dnsmasq does: Windows and some routers send option 12 NUL-terminated (`DIR-809\0`).
 */
export function normalizeHostname(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.replace(/\0+$/, '').trim();
  if (t === '' || t === '*') return undefined;
  if (isLowerHostnameAt(t, 0, t.length)) return t;
  return isHostname(t) ? t.toLowerCase() : undefined;
}

/** UUID as 32 hex digits with or without hyphens -> lower-case 8-4-4-4-12 form. */
export function normalizeUuid(s: string): string | undefined {
  const hex = s.replace(/-/g, '').toLowerCase();
  if (!/^[0-9a-f]{32}$/.test(hex)) return undefined;
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Node names are only ever built from validated IPs or MACs; this is the final gate. */
export function isSafeNodeName(s: string): boolean {
  return /^[0-9A-Fa-f][0-9A-Fa-f-]{0,63}$/.test(s);
}

/** An absolute path with no empty, `.` or `..` segment and no trailing slash: path.resolve would return it as is. */
const NORMAL_ABSOLUTE = /^(?:\/[^/]+)+$/;
/** Relative names made of plain segments (no empty, `.` or `..` one): joining them needs no resolving. */
const PLAIN_RELATIVE = /^[^/]+(?:\/[^/]+)*$/;
const DOT_SEGMENT = /(?:^|\/)\.\.?(?:\/|$)/;

/** Is `p` an absolute path that path.resolve returns as is, other than "/" (no empty, `.` or `..` segment, no trailing slash)? */
export function isNormalAbsolute(p: string): boolean {
  return NORMAL_ABSOLUTE.test(p) && !DOT_SEGMENT.test(p);
}

/**
 * Join `name` under `root`, refusing anything that would land outside it: absolute names,
 * `..` segments, NUL bytes, newlines. Every path built from client data goes through here.
 * The result is path.resolve(root, ...names); when root is already normal and the names are plain
 * segments (the common case: several calls per node in a storm) it is built by concatenation,
 * since path.resolve allocates on every call and a storm makes several calls per node.
 */
export function safeJoin(root: string, ...names: string[]): string {
  const base = NORMAL_ABSOLUTE.test(root) && !DOT_SEGMENT.test(root) ? root : path.resolve(root);
  let plain = true;
  for (const n of names) {
    if (n.length === 0 || /[\0\n\r]/.test(n) || path.isAbsolute(n)) {
      throw new Error(`unsafe path component ${JSON.stringify(printable(n))} under ${base}`);
    }
    if (n.split('/').some((seg) => seg === '..')) {
      throw new Error(`unsafe path component ${JSON.stringify(printable(n))} under ${base}`);
    }
    if (plain && (!PLAIN_RELATIVE.test(n) || DOT_SEGMENT.test(n))) plain = false;
  }
  if (names.length === 0) return base;
  const joined = plain ? `${base === '/' ? '' : base}/${names.join('/')}` : path.resolve(base, ...names);
  if (joined !== base && !joined.startsWith(base + path.sep)) {
    throw new Error(`path ${joined} escapes ${base}`);
  }
  return joined;
}

/** A short, printable copy of untrusted input for log lines: control bytes escaped, max `max` chars. */
export function printable(s: string, max = 120): string {
  const esc = s.replace(/[\x00-\x1f\x7f-\x9f\\]/g, (c) => (c === '\\' ? '\\\\' : `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`));
  return esc.length > max ? esc.slice(0, max) + '…' : esc;
}
