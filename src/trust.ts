// Which event sources may take something away. A lease file is written by the root-owned DHCP
// server, and the hook and the CLI reach the daemon over the root-only control socket: what they
// say happened did happen. Anyone on the segment can send a DHCP packet, and any local user can
// write a syslog or journald line with any program tag: those may add to a node's timeline and
// provision it (an export names the client's IP alone), never unexport or remove it. This table is
// the only place that decides; intake.ts asks it before every release.
import type { SourceType } from './types.ts';

/** What one kind of source may do, and why (the README's trust table is this one). */
export interface SourceTrust {
  provision: boolean;
  release: boolean;
  why: string;
}

/** Every source type, classified: a new type does not compile until it is added here. */
export const SOURCE_TRUST: Readonly<Record<SourceType, SourceTrust>> = {
  'dnsmasq-leases': { provision: true, release: true, why: 'a lease file written by the root-owned DHCP server' },
  'isc-leases': { provision: true, release: true, why: 'a lease file written by the root-owned DHCP server' },
  'kea-leases': { provision: true, release: true, why: 'a lease file written by the root-owned DHCP server' },
  hook: { provision: true, release: true, why: 'the dnsmasq dhcp-script over the root-only control socket' },
  cli: { provision: true, release: true, why: 'an admin over the root-only control socket' },
  syslog: { provision: true, release: false, why: 'any local user can write a syslog line with any program tag' },
  journal: { provision: true, release: false, why: 'any local user can log to journald with any identifier' },
  'dhcp-snoop': { provision: true, release: false, why: 'any host on the segment, or any local user, can send a DHCP packet' },
  'http-log': { provision: true, release: false, why: 'any host that reaches the HTTP server chooses the request path it logs' },
};

/** May an event from this source release a node (unexport, remove)? False for anything unknown. */
export function isAuthoritative(sourceType: string): boolean {
  return Object.hasOwn(SOURCE_TRUST, sourceType) && SOURCE_TRUST[sourceType as SourceType].release;
}
