// A strict, bounds-checked parser for DHCPv4/BOOTP packets (RFC 2131/2132, 3396 long options,
// 4578 PXE options). Ours because the npm `dhcp` package drops options 77/93/94/97, misparses
// everything after a pad byte and throws on valid packets. It never throws: it returns a packet or
// a typed error saying where and what.
import { normalizeHostname, normalizeUuid } from '../../src/validate.ts';

/** Stable codes for why a datagram is not a DHCP packet. */
export type DhcpParseErrorCode = 'short' | 'hlen' | 'cookie' | 'option-overrun' | 'overload';

/** Where and why parsing stopped. */
export interface DhcpParseError {
  code: DhcpParseErrorCode;
  message: string;
  offset?: number;
}

/** A bounds-checked DHCP packet; decoded options are validated, raw ones kept by code. */
export interface DhcpPacket {
  op: number;
  htype: number;
  hlen: number;
  hops: number;
  xid: number;
  secs: number;
  flags: number;
  ciaddr: string;
  yiaddr: string;
  siaddr: string;
  giaddr: string;
  /** chaddr's first hlen bytes as lower-case hex pairs joined by ':' */
  chaddr: string;
  /** "52:54:00:12:34:56" when htype=1 (Ethernet) and hlen=6 */
  mac?: string;
  /** raw options by code; repeated codes concatenated (RFC 3396) */
  options: Map<number, Uint8Array>;
  messageType?: number;
  /** option 12, validated RFC 1123 or absent (untrusted input) */
  hostname?: string;
  requestedIp?: string;
  serverId?: string;
  vendorClass?: string;
  clientId?: string;
  /** option 77 as text (iPXE sends the raw string "iPXE") */
  userClass?: string;
  /** option 93, IANA processor architecture types, in the client's order */
  archs?: number[];
  /** option 94: interface type, major, minor */
  ndi?: [number, number, number];
  /** option 97 type 0 with a 16-byte UUID, lower-case hyphenated */
  uuid?: string;
  /** options present but malformed (skipped, not fatal) */
  warnings: string[];
}

/** Never a throw: a packet or an error value. */
export type DhcpParseResult = { ok: true; packet: DhcpPacket } | { ok: false; error: DhcpParseError };

/** Option 53 names, for logs. */
export const DHCP_MESSAGE_TYPES: Record<number, string> = {
  1: 'DISCOVER', 2: 'OFFER', 3: 'REQUEST', 4: 'DECLINE', 5: 'ACK', 6: 'NAK', 7: 'RELEASE', 8: 'INFORM',
};

const MAGIC = [99, 130, 83, 99];
const HEADER = 236;

function ip4(b: Uint8Array, at: number): string {
  return `${b[at]}.${b[at + 1]}.${b[at + 2]}.${b[at + 3]}`;
}

function hex(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i++) s += (i ? ':' : '') + b[i]!.toString(16).padStart(2, '0');
  return s;
}

/** printable ASCII only (untrusted option text); other bytes become '?' */
function text(b: Uint8Array, max = 255): string {
  let s = '';
  for (let i = 0; i < b.length && i < max; i++) {
    const c = b[i]!;
    s += c >= 0x20 && c < 0x7f ? String.fromCharCode(c) : '?';
  }
  return s;
}

/** Walk one options area [from, to); appends to `opts`; returns an error or the overload value seen. */
function readOptions(b: Uint8Array, from: number, to: number, opts: Map<number, Uint8Array>): DhcpParseError | undefined {
  let i = from;
  while (i < to) {
    const code = b[i]!;
    if (code === 0) {
      i++;
      continue;
    }
    if (code === 255) return undefined;
    if (i + 1 >= to) return { code: 'option-overrun', message: `option ${code} at offset ${i} has no length byte`, offset: i };
    const len = b[i + 1]!;
    if (i + 2 + len > to) {
      return { code: 'option-overrun', message: `option ${code} at offset ${i} claims ${len} bytes, only ${to - i - 2} left`, offset: i };
    }
    const val = b.subarray(i + 2, i + 2 + len);
    const prev = opts.get(code);
    if (prev) {
      const joined = new Uint8Array(prev.length + val.length);
      joined.set(prev);
      joined.set(val, prev.length);
      opts.set(code, joined);
    } else opts.set(code, val);
    i += 2 + len;
  }
  return undefined; // no end option: tolerated, the bounds held
}

/** Parse one UDP payload from port 67/68. */
export function parseDhcpPacket(buf: Uint8Array): DhcpParseResult {
  if (buf.length < HEADER + 4) {
    return { ok: false, error: { code: 'short', message: `packet is ${buf.length} bytes, a DHCP packet has at least ${HEADER + 4}` } };
  }
  const hlen = buf[2]!;
  if (hlen > 16) return { ok: false, error: { code: 'hlen', message: `hlen ${hlen} exceeds the 16-byte chaddr field`, offset: 2 } };
  for (let k = 0; k < 4; k++) {
    if (buf[HEADER + k] !== MAGIC[k]) {
      return { ok: false, error: { code: 'cookie', message: 'no DHCP magic cookie 99.130.83.99 at offset 236 (plain BOOTP?)', offset: HEADER } };
    }
  }
  const opts = new Map<number, Uint8Array>();
  const e1 = readOptions(buf, HEADER + 4, buf.length, opts);
  if (e1) return { ok: false, error: e1 };
  const ov = opts.get(52);
  if (ov) {
    if (ov.length !== 1 || ov[0]! < 1 || ov[0]! > 3) return { ok: false, error: { code: 'overload', message: `option 52 (overload) value ${hex(ov)} is not 1, 2 or 3` } };
    // RFC 2131 4.1: file field first, then sname
    if (ov[0]! & 1) {
      const e = readOptions(buf, 108, 236, opts);
      if (e) return { ok: false, error: e };
    }
    if (ov[0]! & 2) {
      const e = readOptions(buf, 44, 108, opts);
      if (e) return { ok: false, error: e };
    }
  }
  const chaddrBytes = buf.subarray(28, 28 + hlen);
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const p: DhcpPacket = {
    op: buf[0]!,
    htype: buf[1]!,
    hlen,
    hops: buf[3]!,
    xid: view.getUint32(4),
    secs: view.getUint16(8),
    flags: view.getUint16(10),
    ciaddr: ip4(buf, 12),
    yiaddr: ip4(buf, 16),
    siaddr: ip4(buf, 20),
    giaddr: ip4(buf, 24),
    chaddr: hex(chaddrBytes),
    options: opts,
    warnings: [],
  };
  if (p.htype === 1 && hlen === 6) p.mac = p.chaddr;
  decodeKnownOptions(p);
  return { ok: true, packet: p };
}

function decodeKnownOptions(p: DhcpPacket): void {
  const o = p.options;
  const want = (code: number, ok: (v: Uint8Array) => boolean, use: (v: Uint8Array) => void) => {
    const v = o.get(code);
    if (!v) return;
    if (ok(v)) use(v);
    else p.warnings.push(`option ${code} has a bad length ${v.length}`);
  };
  want(53, (v) => v.length === 1, (v) => (p.messageType = v[0]));
  want(50, (v) => v.length === 4, (v) => (p.requestedIp = ip4(v, 0)));
  want(54, (v) => v.length === 4, (v) => (p.serverId = ip4(v, 0)));
  want(12, (v) => v.length >= 1, (v) => {
    let n = v.length;
    while (n > 0 && v[n - 1] === 0) n--; // NUL-terminated (Windows, some routers): dnsmasq drops it too
    const h = normalizeHostname(text(v.subarray(0, n)));
    if (h) p.hostname = h;
    else p.warnings.push('option 12 (hostname) is not a valid RFC 1123 name');
  });
  want(60, (v) => v.length >= 1, (v) => (p.vendorClass = text(v)));
  want(61, (v) => v.length >= 2, (v) => (p.clientId = hex(v)));
  want(77, (v) => v.length >= 1, (v) => (p.userClass = text(v)));
  want(93, (v) => v.length >= 2 && v.length % 2 === 0, (v) => {
    const a: number[] = [];
    for (let i = 0; i < v.length; i += 2) a.push((v[i]! << 8) | v[i + 1]!);
    p.archs = a;
  });
  want(94, (v) => v.length === 3, (v) => (p.ndi = [v[0]!, v[1]!, v[2]!]));
  want(97, (v) => v.length === 17 && v[0] === 0, (v) => {
    let h = '';
    for (let i = 1; i < 17; i++) h += v[i]!.toString(16).padStart(2, '0');
    const u = normalizeUuid(h);
    if (u) p.uuid = u;
  });
}
