// Message parsers for the lines of the TFTP and DHCP daemons we trust. Each returns what the line
// says (client address, file, MAC) or a reason it is malformed; lines of other shapes are `undefined`
// (ignored quietly: NAKs, OFFERs, option dumps).
import path from 'node:path';
import { normalizeHostname, normalizeIPv4, normalizeMac, printable } from '../../src/validate.ts';

/** A TFTP request or transfer: who asked, and for which file (as the client named it / relative). */
export interface TftpRequest {
  kind: 'tftp';
  ip: string;
  /** raw name as logged; tftpd-hpa and atftpd: what the client sent; dnsmasq: relative to tftp_root */
  file: string;
}

/** A dnsmasq DHCP lease event. */
export interface DhcpLogEvent {
  kind: 'ack' | 'release';
  ip: string;
  mac: string;
  hostname?: string;
}

/** What one message says: a request, a lease change, a malformed line, or nothing of interest. */
export type MessageResult = TftpRequest | DhcpLogEvent | { kind: 'bad'; reason: string } | undefined;

const RRQ = /^RRQ from (\S+) filename (.*?)(?: remapped to .*)?$/s;
const SERVING = /^Serving (.*) to (\S+):(\d{1,5})$/s;
/**
 * dnsmasq translates its TFTP lines (po/*.po) when it runs under a non-C locale. These are the forms
 * of "sent %s to %s" and "file %s not found for %s" in dnsmasq's catalogs; in each, the file comes
 * first and the client second. A test checks them against the catalogs of the installed dnsmasq.
 */
export const DNSMASQ_TFTP_FORMATS: { sent: string[]; notFound: string[] } = {
  sent: [
    'sent %s to %s', // C
    '%s an %s verschickt', // de
    'envoyé %s à %s', // fr
    '%s გაგზავნილია %s-სთან', // ka
    'plik %s przesłano do %s', // pl
  ],
  notFound: [
    'file %s not found for %s', // C
    'Datei %s nicht gefunden für %s', // de
    'fichier %s non trouvé pour %s', // fr
    'ფაილი %s ვერ ვიპოვე %s_სთვის', // ka
    'plik %s nie został znaleziony dla %s', // pl
  ],
};

/** A printf format with two %s (file, then client) as an anchored regex: the file may hold spaces, the client not. */
function formatRegex(format: string): RegExp {
  const [a, b, c] = format.split('%s').map((part) => part.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
  return new RegExp(`^${a}(.*)${b}(\\S+?)${c}$`, 's');
}
const SENT = DNSMASQ_TFTP_FORMATS.sent.map(formatRegex);
const NOT_FOUND = DNSMASQ_TFTP_FORMATS.notFound.map(formatRegex);
/** A dnsmasq-tftp line naming an absolute path and an IPv4 address: a transfer line, in some language. */
const LOOKS_LIKE_TRANSFER = /(^|\s)\/\S*.*(^|[\s(])\d{1,3}(\.\d{1,3}){3}/s;
const DHCP = /^(?:\d+ )?(DHCPACK|DHCPRELEASE)\(([^)\s]*)\) (\S+) (\S+)(?: (.*))?$/s;

function bad(reason: string): { kind: 'bad'; reason: string } {
  return { kind: 'bad', reason };
}

function tftp(rawIp: string, file: string, what: string): MessageResult {
  const ip = normalizeIPv4(rawIp);
  if (!ip) {
    // IPv6 clients (and dnsmasq's "fe80::1%eth0") are outside what we provision: quiet skip
    if (rawIp.includes(':') && !rawIp.toLowerCase().startsWith('::ffff:')) return undefined;
    return bad(`${what}: client address ${JSON.stringify(printable(rawIp, 60))} is not an IPv4 address`);
  }
  if (file.length === 0) return bad(`${what}: empty file name`);
  return { kind: 'tftp', ip, file };
}

/** tftpd-hpa: "RRQ from <ip> filename <name>[ remapped to <name>]" */
export function parseTftpdHpaMessage(msg: string): MessageResult {
  if (!msg.startsWith('RRQ from ')) return undefined;
  const m = RRQ.exec(msg.trimEnd());
  if (!m) return bad('in.tftpd: RRQ line without "filename"');
  return tftp(m[1]!, m[2]!, 'in.tftpd RRQ');
}

/** atftpd: "Serving <name> to <ip>:<port>" (ip may be ::ffff:-mapped) */
export function parseAtftpdMessage(msg: string): MessageResult {
  if (!msg.startsWith('Serving ')) return undefined;
  const m = SERVING.exec(msg.trimEnd());
  if (!m) return bad('atftpd: "Serving" line without "to <ip>:<port>"');
  return tftp(m[2]!, m[1]!, 'atftpd Serving');
}

/** Make dnsmasq's full path relative to tftp_root; undefined when it lies outside. */
export function relativeToRoot(full: string, tftpRoot: string): string | undefined {
  if (!full.startsWith('/') || full.includes('\0')) return undefined;
  const root = path.resolve(tftpRoot);
  const norm = path.posix.normalize(full);
  if (!norm.startsWith(root.endsWith('/') ? root : root + '/')) return undefined;
  const rel = norm.slice(root.length).replace(/^\/+/, '');
  return rel.length ? rel : undefined;
}

const firstMatch = (res: RegExp[], text: string): RegExpExecArray | null => {
  for (const re of res) {
    const m = re.exec(text);
    if (m) return m;
  }
  return null;
};

/** The reason logged for a dnsmasq-tftp transfer line in a language we do not know. */
export const DNSMASQ_LOCALE_HINT =
  'dnsmasq-tftp line looks like a transfer in a language pxebootd does not read: run dnsmasq with LANG=C (e.g. Environment=LANG=C in its unit) so its TFTP lines are in English';

/** dnsmasq-tftp: "sent <path> to <ip>" and "file <path> not found for <ip>", in English or a translation dnsmasq ships */
export function parseDnsmasqTftpMessage(msg: string, tftpRoot: string): MessageResult {
  const text = msg.trimEnd();
  let what = 'dnsmasq-tftp sent';
  let m = firstMatch(SENT, text);
  if (!m) {
    m = firstMatch(NOT_FOUND, text);
    what = 'dnsmasq-tftp not found';
  }
  if (!m) return LOOKS_LIKE_TRANSFER.test(text) && text.includes(tftpRoot) ? bad(DNSMASQ_LOCALE_HINT) : undefined;
  const rel = relativeToRoot(m[1]!, tftpRoot);
  if (rel === undefined) return undefined; // another TFTP root (or a hostile path): not ours
  return tftp(m[2]!, rel, what);
}

/** dnsmasq-dhcp: "[xid ]DHCPACK(iface) ip mac [host]" and "[xid ]DHCPRELEASE(iface) ip mac" */
export function parseDnsmasqDhcpMessage(msg: string): MessageResult {
  const start = msg.charCodeAt(0) >= 48 && msg.charCodeAt(0) <= 57 ? msg.indexOf(' ') + 1 : 0;
  if (!msg.startsWith('DHCPACK(', start) && !msg.startsWith('DHCPRELEASE(', start)) return undefined;
  const m = DHCP.exec(msg.trimEnd());
  if (!m) return bad('dnsmasq-dhcp: DHCPACK/DHCPRELEASE line without ip and mac');
  const ip = normalizeIPv4(m[3]!);
  if (!ip) return bad(`dnsmasq-dhcp: ${JSON.stringify(printable(m[3]!, 60))} is not an IPv4 address`);
  const mac = normalizeMac(m[4]!);
  if (!mac) return bad(`dnsmasq-dhcp: ${JSON.stringify(printable(m[4]!, 60))} is not an Ethernet MAC`);
  if (m[1] === 'DHCPRELEASE') return { kind: 'release', ip, mac };
  const res: DhcpLogEvent = { kind: 'ack', ip, mac };
  const hostname = normalizeHostname(m[5]);
  if (hostname) res.hostname = hostname;
  return res;
}

/** Dispatch on the program tag: dnsmasq-* get dnsmasq's shapes, any other trusted tag the TFTP daemons'. */
export function parseDaemonMessage(program: string, msg: string, tftpRoot: string): MessageResult {
  if (program === 'dnsmasq-dhcp') return parseDnsmasqDhcpMessage(msg);
  if (program === 'dnsmasq-tftp') return parseDnsmasqTftpMessage(msg, tftpRoot);
  if (program.startsWith('dnsmasq')) return undefined;
  return parseTftpdHpaMessage(msg) ?? parseAtftpdMessage(msg);
}
