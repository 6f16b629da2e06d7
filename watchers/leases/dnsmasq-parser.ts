// dnsmasq lease file -> leases. One line per lease: "<expiry> <mac> <ip> <hostname|*> <client-id|*>"
// (formats.md §5.1). Pure and split-based: a 100,000-line file is parsed on every rewrite.
import type { BadInput } from '../../src/types.ts';
import type { Lease, ParseResult } from './lease.ts';
import { badInput, checkHostname, checkIPv4, checkMac, checkUint } from './parse-util.ts';

/**
 * Parse a whole dnsmasq lease file. The IPv6 section (from the `duid` line on) is ignored; expiry 0
 * means infinite; hardware-type-prefixed (`hh-…`, non-Ethernet) MACs are skipped with a note; a bad
 * hostname is dropped from its lease and reported. A trailing line without "\n" is parsed like the others:
 * callers that may see a half-written file cut it off first (see completeLines).
 */
export function parseDnsmasqLeases(text: string, source: string): ParseResult {
  const leases = new Map<string, Lease>();
  const bad: BadInput[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    let line = lines[i]!;
    if (line.length !== 0 && line.charCodeAt(line.length - 1) === 13) line = line.slice(0, -1);
    if (line.length === 0) continue;
    if (line.startsWith('duid ')) break; // DHCPv6 leases follow; not ours
    const f = line.split(' ');
    const where = { source, line: i + 1 };
    if (f.length < 4) {
      bad.push(badInput(source, { line: i + 1 }, `expected "<expiry> <mac> <ip> <hostname|*> [<client-id|*>]", found ${f.length} fields`, line));
      continue;
    }
    const exp = checkUint(f[0]!);
    if (exp === undefined) {
      bad.push(badInput(source, { line: i + 1 }, `expected an expiry in epoch seconds, found ${JSON.stringify(f[0]!.slice(0, 20))}`, line));
      continue;
    }
    const rawMac = f[1]!;
    if (rawMac.includes('-')) {
      bad.push(badInput(source, { line: i + 1 }, 'non-Ethernet hardware address (hardware-type prefix): lease skipped', line));
      continue;
    }
    const mac = checkMac(rawMac);
    if (mac === undefined) {
      bad.push(badInput(source, { line: i + 1 }, 'expected a 6-octet MAC address: lease skipped', line));
      continue;
    }
    const ip = f[2]!;
    if (!checkIPv4(ip)) {
      bad.push(badInput(source, { line: i + 1 }, 'expected a dotted-quad IPv4 address: lease skipped', line));
      continue;
    }
    const hostname = checkHostname(f[3], bad, where);
    const lease: Lease = { ip, mac, expires: exp * 1000 };
    if (hostname !== undefined) lease.hostname = hostname;
    leases.set(ip, lease);
  }
  return { leases, bad };
}

/** The complete-line prefix of a file that may be mid-rewrite, and whether anything was cut off. */
export function completeLines(text: string): { text: string; partial: boolean } {
  if (text.length === 0 || text.charCodeAt(text.length - 1) === 10) return { text, partial: false };
  return { text: text.slice(0, text.lastIndexOf('\n') + 1), partial: true };
}
