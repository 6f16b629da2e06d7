// dnsmasq lease file -> leases. One line per lease: "<expiry> <mac> <ip> <hostname|*> <client-id|*>"
// (formats.md §5.1). Pure and offset-based: a 100,000-line file is parsed on every rewrite.
import { isIPv6 } from 'node:net';
import type { BadInput } from '../../src/types.ts';
import type { Lease, ParseResult } from './lease.ts';
import { badInput, closeBad, leaseHostname, reportBad } from './parse-util.ts';
import { isIPv4At, isLowerHostnameAt, isLowerMacAt, normalizeMac } from '../../src/validate.ts';

/**
 * One line, text[start, end) without its "\n" -> a lease, or undefined: blank, the `duid` line, a
 * DHCPv6 lease (skipped silently), or bad (reported to `bad`). Each line stands alone, as in dnsmasq's
 * own reader, which picks IPv4 or IPv6 by the address of each line, not by where the `duid` line is.
 * Works on offsets so a 100,000-line file is not split into line strings first.
 */
export function parseDnsmasqLine(text: string, lineStart: number, eol: number, lineNo: number, source: string, bad: BadInput[]): Lease | undefined {
  let end = eol;
  if (end > lineStart && text.charCodeAt(end - 1) === 13) end--;
  if (end === lineStart) return undefined;
  if (text.charCodeAt(lineStart) === 100 && text.startsWith('duid ', lineStart)) return undefined;
  const s1 = text.indexOf(' ', lineStart);
  const s2 = s1 < 0 || s1 >= end ? -1 : text.indexOf(' ', s1 + 1);
  const s3 = s2 < 0 || s2 >= end ? -1 : text.indexOf(' ', s2 + 1);
  if (s3 < 0 || s3 >= end) {
    reportBad(bad, () => {
      const line = text.slice(lineStart, end);
      return badInput(source, { line: lineNo }, `expected "<expiry> <mac> <ip> <hostname|*> [<client-id|*>]", found ${line.split(' ').length} fields`, line);
    });
    return undefined;
  }
  // a DHCPv6 lease ("<expiry> <iaid> <ipv6> ...") is not ours; its second field is no MAC
  if (text.lastIndexOf(':', s3 - 1) > s2 && isIPv6(text.slice(s2 + 1, s3))) return undefined;
  let exp = 0;
  let ok = s1 > lineStart && s1 - lineStart <= 15;
  for (let i = lineStart; ok && i < s1; i++) {
    const c = text.charCodeAt(i) - 48;
    if (c < 0 || c > 9) ok = false;
    else exp = exp * 10 + c;
  }
  if (!ok) {
    reportBad(bad, () => badInput(source, { line: lineNo }, `expected an expiry in epoch seconds, found ${JSON.stringify(text.slice(lineStart, Math.min(s1, lineStart + 20)))}`, text.slice(lineStart, end)));
    return undefined;
  }
  let mac: string | undefined;
  if (isLowerMacAt(text, s1 + 1, s2)) mac = text.slice(s1 + 1, s2);
  else {
    const rawMac = text.slice(s1 + 1, s2);
    if (rawMac.includes('-')) {
      reportBad(bad, () => badInput(source, { line: lineNo }, 'non-Ethernet hardware address (hardware-type prefix): lease skipped', text.slice(lineStart, end)));
      return undefined;
    }
    mac = normalizeMac(rawMac);
    if (mac === undefined) {
      reportBad(bad, () => badInput(source, { line: lineNo }, 'expected a 6-octet MAC address: lease skipped', text.slice(lineStart, end)));
      return undefined;
    }
  }
  if (!isIPv4At(text, s2 + 1, s3)) {
    reportBad(bad, () => badInput(source, { line: lineNo }, 'expected a dotted-quad IPv4 address: lease skipped', text.slice(lineStart, end)));
    return undefined;
  }
  const ip = text.slice(s2 + 1, s3);
  let s4 = text.indexOf(' ', s3 + 1);
  if (s4 < 0 || s4 > end) s4 = end;
  let hostname: string | undefined;
  if (isLowerHostnameAt(text, s3 + 1, s4)) hostname = text.slice(s3 + 1, s4);
  else if (!(s4 === s3 + 2 && text.charCodeAt(s3 + 1) === 42)) hostname = leaseHostname(text.slice(s3 + 1, s4), bad, { source, line: lineNo });
  return hostname === undefined ? { ip, mac, expires: exp * 1000 } : { ip, mac, hostname, expires: exp * 1000 };
}

/**
 * Parse a whole dnsmasq lease file. DHCPv6 leases and the `duid` line are skipped, IPv4 lines are read
 * wherever they stand; expiry 0 means infinite; hardware-type-prefixed (`hh-…`, non-Ethernet) MACs are skipped with a note; a bad
 * hostname is dropped from its lease and reported. A trailing line without "\n" is parsed like the others:
 * callers that may see a half-written file cut it off first (see completeLines).
 */
export function parseDnsmasqLeases(text: string, source: string): ParseResult {
  const leases = new Map<string, Lease>();
  const bad: BadInput[] = [];
  const n = text.length;
  let pos = 0;
  let lineNo = 0;
  while (pos < n) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = n;
    const l = parseDnsmasqLine(text, pos, eol, ++lineNo, source, bad);
    pos = eol + 1;
    if (l !== undefined) leases.set(l.ip, l);
  }
  closeBad(bad, source);
  return { leases, bad };
}

/** The complete-line prefix of a file that may be mid-rewrite, and whether anything was cut off. */
export function completeLines(text: string): { text: string; partial: boolean } {
  if (text.length === 0 || text.charCodeAt(text.length - 1) === 10) return { text, partial: false };
  return { text: text.slice(0, text.lastIndexOf('\n') + 1), partial: true };
}
