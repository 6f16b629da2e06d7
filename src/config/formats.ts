// Field formats of the config (CIDRs, addresses, names, option strings). Each check returns an
// error message that says what was expected and what was found, or undefined when the value is fine.
import { intToIp, ipToInt, ipv4Error, isHostname, isIPv4 } from '../validate.ts';

/** A parsed IPv4 network, canonical (host bits clear). */
export interface Cidr {
  /** network address as an unsigned 32-bit int */
  network: number;
  prefix: number;
  /** canonical "a.b.c.d/n" */
  text: string;
}

/** Mask of a prefix length as an unsigned 32-bit int (0 for /0). */
export function prefixMask(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** "10.0.0.0/24" -> Cidr; undefined for anything else (host bits set included). */
export function parseCidr(s: string): Cidr | undefined {
  return checkCidr(s) === undefined ? toCidr(s) : undefined;
}

function toCidr(s: string): Cidr {
  const [ip, len] = s.split('/') as [string, string];
  const prefix = Number(len);
  const network = (ipToInt(ip) & prefixMask(prefix)) >>> 0;
  return { network, prefix, text: `${intToIp(network)}/${prefix}` };
}

/** Why `s` is not an IPv4 CIDR with a clean network address, or undefined. */
export function checkCidr(s: string): string | undefined {
  const m = /^([^/]+)\/(\d{1,2})$/.exec(s);
  if (!m) return `expected an IPv4 network such as 10.0.0.0/24, found ${JSON.stringify(s)}`;
  if (!isIPv4(m[1]!)) return `expected an IPv4 network address before "/", found ${JSON.stringify(m[1])}`;
  const prefix = Number(m[2]);
  if (prefix > 32) return `expected a prefix length 0..32, found /${m[2]}`;
  const c = toCidr(s);
  if (ipToInt(m[1]!) !== c.network) {
    return `host bits set in ${s}: expected the network address ${c.text}`;
  }
  return undefined;
}

/** Does the network contain this (valid) IPv4 address? */
export function cidrContains(c: Cidr, ip: string): boolean {
  return ((ipToInt(ip) & prefixMask(c.prefix)) >>> 0) === c.network;
}

/** `server` is what clients mount from and fetch boot files from: an IPv4 address or a DNS name. */
export function checkServer(s: string): string | undefined {
  if (/^[0-9.]+$/.test(s)) return ipv4Error(s);
  return isHostname(s) ? undefined : `expected an IPv4 address or an RFC 1123 host name, found ${JSON.stringify(s)}`;
}

/** "127.0.0.1:9642", "[::1]:9642" or "localhost:9642". */
export function checkListen(s: string): string | undefined {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:[\]]+):(\d{1,5})$/.exec(s);
  const bad = `expected HOST:PORT such as 127.0.0.1:9642, found ${JSON.stringify(s)}`;
  if (!m) return bad;
  const host = m[1]!;
  const port = Number(m[2]);
  if (port < 1 || port > 65535) return `expected a port 1..65535, found ${m[2]}`;
  if (host.startsWith('[')) return undefined;
  return isIPv4(host) || (!/^[0-9.]+$/.test(host) && isHostname(host)) ? undefined : bad;
}

/** exports(5) options pxebootd puts between the parentheses of each line; fsid= is ours. */
export function checkExportOptions(s: string): string | undefined {
  if (s.trim() === '') return 'expected comma-separated exports(5) options such as rw,no_root_squash, found an empty string';
  if (/[\s()#"'\\]/.test(s)) return `expected options without whitespace, parentheses, quotes or "#", found ${JSON.stringify(s)}`;
  if (!/^[A-Za-z0-9_=,:.@/+-]+$/.test(s)) return `expected only letters, digits and _=,:.@/+- in options, found ${JSON.stringify(s)}`;
  const items = s.split(',');
  if (items.some((i) => i === '')) return `expected no empty item between commas, found ${JSON.stringify(s)}`;
  if (items.some((i) => /^fsid=/i.test(i))) return 'fsid= must not be set here: pxebootd gives each node its own stable fsid';
  return undefined;
}

/** A network interface name as the kernel accepts it. */
export function checkInterface(s: string): string | undefined {
  return /^[A-Za-z0-9_.:@-]{1,15}$/.test(s) ? undefined : `expected a network interface name (1-15 chars, no "/" or spaces), found ${JSON.stringify(s)}`;
}

/** A program tag as it appears in syslog/journald (SYSLOG_IDENTIFIER). */
export function checkProgram(s: string): string | undefined {
  return /^[A-Za-z0-9_.@-]{1,64}$/.test(s) ? undefined : `expected a program name such as in.tftpd, found ${JSON.stringify(s)}`;
}

/** A local user name as /etc/passwd spells it (journal `trusted_users`). */
export function checkUserName(s: string): string | undefined {
  return /^[a-z_][a-z0-9_.-]{0,31}\$?$/i.test(s) ? undefined : `expected a user name such as tftp, found ${JSON.stringify(s)}`;
}

/** Any path in the config: no NUL or line breaks (they would corrupt exports lines and logs). */
export function checkPath(s: string): string | undefined {
  if (s === '') return 'expected a path, found an empty string';
  return /[\0\r\n]/.test(s) ? `expected a path without NUL or line breaks, found ${JSON.stringify(s)}` : undefined;
}

/** http_base: the URL (no trailing slash) of an HTTP server serving tftp_root, for {{http_base}} in boot files. */
export function checkHttpBase(s: string): string | undefined {
  const m = /^https?:\/\/(\[[0-9a-fA-F:.]+\]|[^/:[\]]+)(:\d{1,5})?(\/[A-Za-z0-9._~\/-]*)?$/.exec(s);
  const bad = `expected an http:// or https:// URL such as http://10.0.0.1 or http://boot.example:8080/tftp (no query, quotes, spaces or trailing slash), found ${JSON.stringify(s)}`;
  if (!m || s.endsWith('/')) return bad;
  const host = m[1]!;
  if (host.startsWith('[')) return undefined;
  if (/^[0-9.]+$/.test(host)) return isIPv4(host) ? undefined : bad;
  return isHostname(host) ? undefined : bad;
}

/** grub_dir / ipxe_dir: a directory inside tftp_root. */
export function checkTftpSubdir(s: string): string | undefined {
  const p = checkPath(s);
  if (p) return p;
  if (s.startsWith('/') || s.split('/').includes('..')) return `expected a directory relative to tftp_root without "..", found ${JSON.stringify(s)}`;
  return undefined;
}

/** Ganesha Pseudo root: an absolute NFSv4 path. */
export function checkPseudoRoot(s: string): string | undefined {
  if (!/^\/[A-Za-z0-9_./-]*$/.test(s) || s.split('/').includes('..')) {
    return `expected an absolute NFSv4 pseudo path such as /nodes, found ${JSON.stringify(s)}`;
  }
  return undefined;
}

/** Template variable names: usable as {{name}}. */
export function checkVarName(s: string): string | undefined {
  return /^[A-Za-z_][A-Za-z0-9_]*$/.test(s) ? undefined : `expected a variable name of letters, digits and "_" (usable as {{name}}), found ${JSON.stringify(s)}`;
}
