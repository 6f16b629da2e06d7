// What a snooped client packet means for pxebootd: DISCOVER/REQUEST = a client is here (with its
// PXE arch, UUID and vendor class), RELEASE = it says it left (a claim anyone can make: the daemon
// notes it and never releases on it). Server packets and other types say nothing. Addresses no
// client can have (option 50 = 0.0.0.0, broadcast, loopback, multicast) count as absent.
import type { BadInput, ClientEvent, ClientSeen } from '../../src/types.ts';
import { printable } from '../../src/validate.ts';
import { parseDhcpPacket, type DhcpPacket } from './dhcp-packet.ts';

/** At most one event or one bad-input record per datagram. */
export interface PacketEventResult {
  event?: ClientEvent;
  bad?: BadInput;
}

/**
 * The address itself, or undefined when no client can have it: 0.0.0.0/8 ("this network", a
 * client's "no address yet"), 127.0.0.0/8, and 224.0.0.0 up (multicast, reserved, 255.255.255.255).
 * Option 50 = 0.0.0.0 appears in real captures (Wireshark's dhcp.pcap) and means "no address".
 */
export function clientAddress(ip: string | undefined): string | undefined {
  if (ip === undefined) return undefined;
  const first = Number(ip.slice(0, ip.indexOf('.')));
  return first === 0 || first === 127 || first >= 224 ? undefined : ip;
}

/** Event for a parsed client packet; `{}` for packets that describe no client change. */
export function eventFromPacket(p: DhcpPacket, source: string, time: number): PacketEventResult {
  if (p.op !== 1) return {}; // BOOTREPLY: from a server (or our own echo), not a client
  const t = p.messageType;
  if (t === 7) {
    const ip = clientAddress(p.ciaddr);
    if (!p.mac && !ip) return {};
    const e: ClientEvent = { kind: 'gone', source, sourceType: 'dhcp-snoop', time, reason: 'DHCPRELEASE' };
    if (p.mac) e.mac = p.mac;
    if (ip) e.ip = ip;
    return { event: e };
  }
  if (t !== 1 && t !== 3) return {};
  if (!p.mac) {
    return { bad: { source, reason: `DHCP ${t === 1 ? 'DISCOVER' : 'REQUEST'} with htype ${p.htype}/hlen ${p.hlen}: no Ethernet MAC`, sample: p.chaddr } };
  }
  const e: ClientSeen = { kind: 'seen', mac: p.mac, source, sourceType: 'dhcp-snoop', time };
  const ip = clientAddress(p.requestedIp) ?? clientAddress(p.ciaddr);
  if (ip) e.ip = ip;
  if (p.archs?.length) e.arch = p.archs[0];
  if (p.uuid) e.uuid = p.uuid;
  if (p.vendorClass) e.vendorClass = p.vendorClass;
  if (p.hostname) e.hostname = p.hostname;
  if (p.clientId) e.clientId = p.clientId;
  return { event: e };
}

/** Parse a datagram and turn it into an event or a bad-input record. */
export function eventFromDatagram(buf: Uint8Array, source: string, time: number, from?: string): PacketEventResult {
  const r = parseDhcpPacket(buf);
  if (!r.ok) {
    const head = Buffer.from(buf.subarray(0, 48)).toString('hex');
    return { bad: { source, offset: r.error.offset, reason: `${r.error.message}${from ? ` (from ${from})` : ''}`, sample: printable(head) } };
  }
  return eventFromPacket(r.packet, source, time);
}
