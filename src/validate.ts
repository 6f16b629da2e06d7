// Client data is untrusted: MACs, IPs, hostnames and names derived from them pass through here
// before they reach a path, a template, an exports line or a log field.
import path from 'node:path';

const MAC_RE = /^([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})[:-]([0-9a-f]{2})$/i;
const MAC_RAW_RE = /^[0-9a-f]{12}$/i;

/** "52-54-00-AB-CD-EF" | "52:54:00:ab:cd:ef" | "525400abcdef" -> "52:54:00:ab:cd:ef"; anything else -> undefined */
export function normalizeMac(input: string): string | undefined {
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

/** Strict dotted-quad IPv4, no leading zeros (which some parsers read as octal). */
export function isIPv4(s: string): boolean {
  const parts = s.split('.');
  if (parts.length !== 4) return false;
  return parts.every((p) => /^(0|[1-9][0-9]{0,2})$/.test(p) && Number(p) <= 255);
}

/** Accepts "::ffff:1.2.3.4" (IPv4-mapped) as well; returns the dotted quad or undefined. */
export function normalizeIPv4(input: string): string | undefined {
  let s = input.trim();
  if (s.toLowerCase().startsWith('::ffff:')) s = s.slice(7);
  return isIPv4(s) ? s : undefined;
}

export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  return ((p[0]! << 24) | (p[1]! << 16) | (p[2]! << 8) | p[3]!) >>> 0;
}

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
export function isValidHostname(s: string): boolean {
  if (s.length === 0 || s.length > 253) return false;
  return s.toLowerCase().split('.').every((l) => LABEL_RE.test(l));
}

/**
 * Lower-cased hostname if valid, else undefined. The caller logs the rejection. Trailing NULs are
 * dropped first, as dnsmasq does: Windows and some routers send option 12 NUL-terminated (`DIR-809\0`).
 */
export function normalizeHostname(s: string | undefined): string | undefined {
  if (s === undefined) return undefined;
  const t = s.replace(/\0+$/, '').trim();
  if (t === '' || t === '*') return undefined;
  return isValidHostname(t) ? t.toLowerCase() : undefined;
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

/**
 * Join `name` under `root`, refusing anything that would land outside it: absolute names,
 * `..` segments, NUL bytes, newlines. Every path built from client data goes through here.
 * The result is path.resolve(root, ...names); when root is already normal and the names are plain
 * segments (the common case: several calls per node in a storm) it is built by concatenation,
 * since path.resolve's work was a measurable share of a 10,000-node burst's garbage.
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
