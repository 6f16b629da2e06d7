// Node names come only from a validated IP (ip-hex, as fuse_pxebootfs did) or a validated MAC.
import type { NodeNaming } from './types.ts';
import { ipToHex, isIPv4, macHyphen, normalizeMac } from './validate.ts';

/** ip-hex: "10.99.0.50" -> "0A630032"; mac: "52:54:00:12:34:56" -> "52-54-00-12-34-56". */
export function nodeNameFor(naming: NodeNaming, ip: string, mac: string | undefined): string {
  if (naming === 'mac') {
    const m = mac === undefined ? undefined : normalizeMac(mac);
    if (!m) throw new Error(`node_name: mac needs a known MAC for ${ip}`);
    return macHyphen(m);
  }
  if (!isIPv4(ip)) throw new Error(`node_name: ip-hex needs an IPv4 address, got ${JSON.stringify(ip)}`);
  return ipToHex(ip);
}
