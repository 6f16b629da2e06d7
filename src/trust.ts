// Which event sources may take something away. A lease file is written by the root-owned DHCP
// server, and the hook and the CLI reach the daemon over the root-only control socket: what they
// say happened did happen. Anyone on the segment can send a DHCP packet, and any local user can
// write a syslog or journald line with any program tag: those may add to a node's timeline and
// provision it (an export names the client's IP alone), never unexport or remove it. This table is
// the only place that decides; src/pipeline/decide.ts asks it before every release.
//
// Boot evidence is the second question: may this event tell boot-once that a node booted again
// without reporting, and so fail (quarantine) it? Sources that may release may; a syslog file,
// an HTTP log and DHCP snoop never may. journald may when the event is *attested*: its trusted
// fields (_UID from the kernel's socket credentials, _EXE/_COMM) show the real TFTP/DHCP daemon
// wrote it (watchers/logs/journal-entry.ts marks such events `evidence: 'trusted'`). boot-once asks
// isBootEvidence() and nothing else.
import type { ClientSeen, SourceType } from './types.ts';

/**
 * Whether a source's events may fail a boot-once profile (a second boot without a report):
 * `always`, `attested` (only events the watcher marked `evidence: 'trusted'`) or `never`.
 */
export type BootEvidence = 'always' | 'attested' | 'never';

/** What one kind of source may do, and why (the README's trust table is this one). */
export interface SourceTrust {
  provision: boolean;
  release: boolean;
  bootEvidence: BootEvidence;
  why: string;
}

/** Every source type, classified: a new type does not compile until it is added here. */
export const SOURCE_TRUST: Readonly<Record<SourceType, SourceTrust>> = {
  'dnsmasq-leases': { provision: true, release: true, bootEvidence: 'always', why: 'a lease file written by the root-owned DHCP server' },
  'isc-leases': { provision: true, release: true, bootEvidence: 'always', why: 'a lease file written by the root-owned DHCP server' },
  'kea-leases': { provision: true, release: true, bootEvidence: 'always', why: 'a lease file written by the root-owned DHCP server' },
  hook: { provision: true, release: true, bootEvidence: 'always', why: 'the dnsmasq dhcp-script over the root-only control socket' },
  cli: { provision: true, release: true, bootEvidence: 'always', why: 'an admin over the root-only control socket' },
  syslog: { provision: true, release: false, bootEvidence: 'never', why: 'any local user can write a syslog line with any program tag, and the file does not say who wrote it' },
  // a DHCPRELEASE line cannot be attested into a release: the daemon's own line says what a client sent
  journal: { provision: true, release: false, bootEvidence: 'attested', why: 'any local user can log to journald with any identifier, but not with another _UID: an entry from root or the daemon\'s user running the daemon\'s executable is attested' },
  'dhcp-snoop': { provision: true, release: false, bootEvidence: 'never', why: 'any host on the segment, or any local user, can send a DHCP packet' },
  'http-log': { provision: true, release: false, bootEvidence: 'never', why: 'any host that reaches the HTTP server chooses the request path it logs' },
};

/** May an event from this source release a node (unexport, remove)? False for anything unknown. */
export function isAuthoritative(sourceType: string): boolean {
  return Object.hasOwn(SOURCE_TRUST, sourceType) && SOURCE_TRUST[sourceType as SourceType].release;
}

/**
 * May this event fail a boot-once profile (a second boot without a report quarantines the node)?
 * `always` sources yes; `attested` ones only for an event marked `evidence: 'trusted'`; false for
 * anything unknown. Releases are not affected: isAuthoritative() alone decides those.
 */
export function isBootEvidence(e: Pick<ClientSeen, 'sourceType' | 'evidence'>): boolean {
  if (!Object.hasOwn(SOURCE_TRUST, e.sourceType)) return false;
  const b = SOURCE_TRUST[e.sourceType].bootEvidence;
  return b === 'always' || (b === 'attested' && e.evidence === 'trusted');
}
