// Turns one HTTP access-log line into a ClientSeen with `file` set, the way a TFTP log line does:
// the server serves tftp_root, so a GET of /pxelinux.0 is the file pxelinux.0. The request target
// is client input: it is percent-decoded strictly, normalised as the server does (`.`, `..`, repeated
// slashes), and refused when it leaves the root or holds control bytes or invalid UTF-8.
import type { BadInput, ClientSeen } from '../../src/types.ts';
import { normalizeIPv4, printable } from '../../src/validate.ts';
import { parseAccessLine, type AccessLogFormat } from './http-access-line.ts';
import { clientFromTftpFilename } from './tftp-filename.ts';

/** Where events from this log say they came from, and where the server's URL space meets tftp_root. */
export interface HttpLogOptions {
  source: string;
  format: AccessLogFormat;
  /** the URL path that is tftp_root ('' for the server's root; '/tftp' for http://server/tftp) */
  urlPrefix: string;
  now?: () => number;
}

/** At most one event or one bad-input record per line; neither for lines that are not a fetch. */
export interface HttpLogResult {
  event?: ClientSeen;
  bad?: Omit<BadInput, 'line' | 'offset'>;
}

/** Longest request target considered (a boot file name is far shorter; nginx's own limit is 8 KiB). */
export const MAX_TARGET = 2048;

/**
 * Responses that show the client asking for the file: 2xx (200, 206 ranges), 3xx (304 revalidation,
 * 301 for a directory) and 404, which like dnsmasq's "not found" line shows a client probing for a
 * per-node file before pxebootd wrote it. 400, 403, 405, 5xx say nothing about a boot.
 */
export function isCountedStatus(status: number): boolean {
  return (status >= 200 && status < 400) || status === 404;
}

/** The URL path of `http_base` (`http://s:8080/tftp` -> `/tftp`), '' when it has none. */
export function urlPrefixOf(httpBase: string | undefined): string {
  if (httpBase === undefined) return '';
  const m = /^https?:\/\/[^/]+(\/.*)?$/.exec(httpBase);
  return (m?.[1] ?? '').replace(/\/+$/, '');
}

type Mapped = { file: string } | { ignore: true } | { bad: string };

/** Strict %XX decoding of one path, to UTF-8 text; undefined on a malformed escape or invalid UTF-8. */
function percentDecode(p: string): string | undefined {
  const bytes: number[] = [];
  for (let i = 0; i < p.length; i++) {
    const c = p.charCodeAt(i);
    if (c === 37) {
      const h = p.slice(i + 1, i + 3);
      if (!/^[0-9a-fA-F]{2}$/.test(h)) return undefined;
      bytes.push(parseInt(h, 16));
      i += 2;
    } else {
      bytes.push(c);
    }
  }
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(Uint8Array.from(bytes));
  } catch {
    return undefined;
  }
}

/** The tftp_root-relative file a request target names (see the file comment for what is refused). */
export function fileOfTarget(target: string, urlPrefix: string): Mapped {
  let t = target;
  // absolute-form (a request through a proxy): its path only
  const abs = /^https?:\/\/[^/?#]*/i.exec(t);
  if (abs) t = t.slice(abs[0].length) || '/';
  if (!t.startsWith('/')) return { bad: 'request target is not a path' };
  if (t.length > MAX_TARGET) return { bad: `request target longer than ${MAX_TARGET} bytes` };
  const qm = t.indexOf('?');
  if (qm !== -1) t = t.slice(0, qm); // the server serves the file whatever the query says
  // the request line's bytes as logged (latin1): a raw byte outside printable ASCII was never a valid target
  if (/[^\x21-\x7e]/.test(t)) return { bad: 'request target with bytes outside printable ASCII' };
  if (t.includes('#')) return { bad: 'request target with a "#"' };
  const decoded = percentDecode(t);
  if (decoded === undefined) return { bad: 'request target with a malformed percent-escape or invalid UTF-8' };
  if (/[\x00-\x1f\x7f]/.test(decoded)) return { bad: 'request target that decodes to control characters' };
  if (decoded.endsWith('/')) return { ignore: true }; // a directory: no boot file
  const parts: string[] = [];
  for (const seg of decoded.split('/')) {
    if (seg === '' || seg === '.') continue;
    if (seg === '..') {
      if (parts.length === 0) return { bad: 'request target that leaves the server root ("..")' };
      parts.pop();
    } else {
      parts.push(seg);
    }
  }
  const prefix = urlPrefix.split('/').filter((s) => s !== '');
  if (prefix.length >= parts.length || prefix.some((s, i) => parts[i] !== s)) return { ignore: true }; // not under tftp_root's URL
  return { file: parts.slice(prefix.length).join('/') };
}

/** The event one access-log line gives, or why it is bad; `{}` for lines that are no file fetch. */
export function eventFromAccessLine(text: string, o: HttpLogOptions): HttpLogResult {
  const bad = (reason: string): HttpLogResult => ({ bad: { source: o.source, reason, sample: printable(text) } });
  const p = parseAccessLine(text, o.format);
  if (!p.ok) return bad(p.reason);
  const { addr, request, status } = p.line;
  if (!isCountedStatus(status)) return {};
  const parts = request.split(' ');
  // "GET /path HTTP/1.1"; anything else (HEAD, POST, HTTP/0.9, garbage a scanner sent) fetches no boot file
  if (parts.length !== 3 || parts[0] !== 'GET' || !/^HTTP\/\d\.\d$/.test(parts[2]!)) return {};
  const ip = normalizeIPv4(addr);
  if (!ip) {
    // IPv6 clients and unix-socket peers are outside what we provision: quiet skip
    if (addr.includes(':')) return {};
    return bad(`access log client address ${JSON.stringify(printable(addr, 60))} is not an IPv4 address`);
  }
  const m = fileOfTarget(parts[1]!, o.urlPrefix);
  if ('ignore' in m) return {};
  if ('bad' in m) return bad(m.bad);
  // the address comes from the server; MAC/UUID are what the file name claims (as for TFTP)
  const who = clientFromTftpFilename(m.file);
  const e: ClientSeen = { kind: 'seen', ip, source: o.source, sourceType: 'http-log', time: (o.now ?? Date.now)(), file: who.file };
  if (who.mac) e.mac = who.mac;
  if (who.uuid) e.uuid = who.uuid;
  return { event: e };
}
