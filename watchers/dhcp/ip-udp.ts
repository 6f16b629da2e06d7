// Checks what the packet socket hands us (an IPv4 packet, link header stripped) and takes out the
// UDP payload of a DHCP client: UDP from port 68 to the server port, whole (no fragment), lengths
// that agree, a source address that can be a client's. Pure: one verdict per packet, never a throw.

/** Why a packet is not a DHCP client's; the snoop watcher counts drops by these. */
export type DropReason =
  | 'outgoing'
  | 'other-host'
  | 'other-interface'
  | 'malformed'
  | 'fragment'
  | 'too-large'
  | 'not-from-68'
  | 'wrong-port'
  | 'bad-source';

/** Words for each reason, for the summary line. */
export const DROP_WORDS: Record<DropReason, string> = {
  outgoing: 'sent by this host',
  'other-host': 'addressed to another host',
  'other-interface': 'from another interface',
  malformed: 'not a well-formed IPv4/UDP packet',
  fragment: 'IP fragments',
  'too-large': 'larger than 4096 bytes',
  'not-from-68': 'not from UDP port 68 (not a client; relay agents send from 67)',
  'wrong-port': 'not to the server port',
  'bad-source': 'from a loopback, multicast or broadcast source address',
};

/** Linux packet types (sll_pkttype): what the interface received and for whom. */
export const PACKET_TYPE = { HOST: 0, BROADCAST: 1, MULTICAST: 2, OTHERHOST: 3, OUTGOING: 4, LOOPBACK: 5 } as const;

/** The largest packet looked at: DHCP on Ethernet fits in 1500 bytes; jumbo frames in this. */
export const MAX_PACKET = 4096;

/** A client's UDP payload and where it came from, or why it was dropped. */
export type IpUdpVerdict = { ok: true; payload: Uint8Array; src: string; srcPort: number } | { ok: false; drop: DropReason };

/** Whether a packet of `pktType` received on `ifindex` is one snoop reads (bound to `boundIndex`). */
export function packetTypeDrop(pktType: number, ifindex: number, boundIndex: number): DropReason | undefined {
  if (ifindex !== boundIndex) return 'other-interface';
  if (pktType === PACKET_TYPE.OUTGOING || pktType === PACKET_TYPE.LOOPBACK) return 'outgoing';
  if (pktType === PACKET_TYPE.OTHERHOST) return 'other-host';
  if (pktType !== PACKET_TYPE.HOST && pktType !== PACKET_TYPE.BROADCAST && pktType !== PACKET_TYPE.MULTICAST) return 'other-host';
  return undefined;
}

/** `wireLength`: the packet's real length (the bytes given may be cut at MAX_PACKET). */
export function parseIpUdp(b: Uint8Array, wireLength: number, serverPort: number): IpUdpVerdict {
  if (wireLength > MAX_PACKET || b.length < wireLength) return { ok: false, drop: 'too-large' };
  if (b.length < 28 || b[0]! >> 4 !== 4) return { ok: false, drop: 'malformed' };
  const ihl = (b[0]! & 0x0f) * 4;
  const total = (b[2]! << 8) | b[3]!;
  // Ethernet pads short frames: bytes past the IP total length are ignored
  if (ihl < 20 || total < ihl + 8 || total > b.length) return { ok: false, drop: 'malformed' };
  if (b[9] !== 17) return { ok: false, drop: 'malformed' };
  if ((((b[6]! << 8) | b[7]!) & 0x3fff) !== 0) return { ok: false, drop: 'fragment' };
  const srcPort = (b[ihl]! << 8) | b[ihl + 1]!;
  const dstPort = (b[ihl + 2]! << 8) | b[ihl + 3]!;
  const udpLen = (b[ihl + 4]! << 8) | b[ihl + 5]!;
  if (udpLen < 8 || udpLen > total - ihl) return { ok: false, drop: 'malformed' };
  if (dstPort !== serverPort) return { ok: false, drop: 'wrong-port' };
  if (srcPort !== 68) return { ok: false, drop: 'not-from-68' };
  const s0 = b[12]!;
  // a client sends from 0.0.0.0 (no address yet) or its unicast address
  if (s0 === 127 || s0 >= 224) return { ok: false, drop: 'bad-source' };
  const src = `${s0}.${b[13]}.${b[14]}.${b[15]}`;
  return { ok: true, payload: b.subarray(ihl + 8, ihl + udpLen), src, srcPort };
}
