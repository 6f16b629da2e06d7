// What a requested TFTP file name says about the client: pxelinux and GRUB look up per-client configs
// by MAC, hex IP and UUID, so the name alone can identify a client that only the TFTP log saw.
// The name is client input: it is cleaned, bounded, and only well-formed identities are returned.
import { hexToIp, normalizeMac, normalizeUuid, printable } from '../../src/validate.ts';

/** The requested file and the identity its name claims. */
export interface TftpFileClient {
  /** the requested name, relative (no leading '/'), cleaned of trailing garbage, printable */
  file: string;
  mac?: string;
  ip?: string;
  uuid?: string;
}

const MAX_NAME = 255;
const MAC_HYPHEN = /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/i;
const MAC_COLON = /^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i;
const HEX8 = /^[0-9a-f]{8}$/i;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * Strip what some PXE ROMs and syslog daemons leave at the end of a name: NULs, 0xff bytes
 * (U+FFFD after decoding, or U+00FF as latin1), rsyslog "#ooo" control escapes and whitespace.
 */
export function cleanTftpFilename(raw: string): string {
  let s = raw.length > 4 * MAX_NAME ? raw.slice(0, 4 * MAX_NAME) : raw;
  for (;;) {
    const before = s.length;
    s = s.replace(/[\s\x00-\x1f\x7f-\xff\ufffd]+$/u, '');
    s = s.replace(/(#[0-7]{3})+$/, '');
    if (s.length === before) break;
  }
  return s.replace(/^\/+/, '');
}

/** Identity claimed by a TFTP file name; `file` is always set, the rest only when well-formed. */
export function clientFromTftpFilename(raw: string): TftpFileClient {
  const cleaned = cleanTftpFilename(raw);
  const file = printable(cleaned, MAX_NAME);
  const res: TftpFileClient = { file };
  if (file !== cleaned) return res; // control bytes or over-long: report the file, claim nothing
  const slash = cleaned.lastIndexOf('/');
  const base = cleaned.slice(slash + 1);
  const dir = slash === -1 ? '' : cleaned.slice(0, slash);
  const dirBase = dir.slice(dir.lastIndexOf('/') + 1);
  if (dirBase === 'pxelinux.cfg') {
    if (base.startsWith('01-') && MAC_HYPHEN.test(base.slice(3))) res.mac = normalizeMac(base.slice(3));
    else if (HEX8.test(base)) res.ip = hexToIp(base);
    else if (UUID.test(base)) res.uuid = normalizeUuid(base);
    return res;
  }
  if (base.startsWith('grub.cfg-')) {
    const rest = base.slice(9);
    if (rest.startsWith('01-') && MAC_HYPHEN.test(rest.slice(3))) res.mac = normalizeMac(rest.slice(3));
    else if (MAC_HYPHEN.test(rest) || MAC_COLON.test(rest)) res.mac = normalizeMac(rest);
    else if (HEX8.test(rest)) res.ip = hexToIp(rest);
    else if (UUID.test(rest)) res.uuid = normalizeUuid(rest);
  }
  return res;
}
