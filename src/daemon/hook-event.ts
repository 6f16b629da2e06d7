// dnsmasq --dhcp-script calls (`pxebootd hook add|old|del|tftp ARGS`) turned into events. dnsmasq
// runs one script at a time, so the CLI forwards argv+env to the daemon and this pure function
// does the parsing there. Everything in argv and env comes from the client or dnsmasq: validated here.
import type { BadInput, ClientEvent, ClientSeen } from '../types.ts';
import { normalizeHostname, normalizeIPv4, normalizeMac, printable } from '../validate.ts';
import { relativeToRoot } from '../../watchers/logs/log-messages.ts';
import { clientFromTftpFilename } from '../../watchers/logs/tftp-filename.ts';

/** The `source` of every hook event (status and timelines show it). */
export const HOOK_SOURCE = 'hook:dnsmasq';

/** "PXEClient:Arch:00007:UNDI:003016" -> 7 (also HTTPClient); undefined for other vendor classes */
export function archFromVendorClass(vc: string | undefined): number | undefined {
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})(?::|$)/.exec(vc ?? '');
  if (!m) return undefined;
  const n = Number(m[1]);
  return n <= 0xffff ? n : undefined;
}

function bad(argv: string[], reason: string): { bad: BadInput } {
  return { bad: { source: HOOK_SOURCE, reason, sample: printable(argv.join(' ')) } };
}

/** Parse one dhcp-script invocation; `{}` for actions we ignore (init, arp-*, IPv6, unknown). */
export function parseHookInvocation(
  argv: string[],
  env: Record<string, string | undefined>,
  tftpRoot: string,
  now: number = Date.now(),
): { event?: ClientEvent; bad?: BadInput } {
  const [action, a1, a2, a3] = argv;
  if (action === 'tftp') {
    // tftp SIZE IP PATH (after a successful transfer; no DHCP env)
    if (a1 === undefined || a2 === undefined || a3 === undefined) return bad(argv, 'tftp: expected SIZE IP PATH');
    if (a2.includes(':') && !a2.toLowerCase().startsWith('::ffff:')) return {}; // IPv6 client
    const ip = normalizeIPv4(a2);
    if (!ip) return bad(argv, `tftp: ${JSON.stringify(printable(a2, 60))} is not an IPv4 address`);
    const rel = relativeToRoot(a3, tftpRoot);
    if (rel === undefined) return {}; // another TFTP root: not ours
    const who = clientFromTftpFilename(rel);
    const e: ClientSeen = { kind: 'seen', ip, source: HOOK_SOURCE, sourceType: 'hook', time: now, file: who.file };
    if (who.mac) e.mac = who.mac;
    if (who.uuid) e.uuid = who.uuid;
    return { event: e };
  }
  if (action !== 'add' && action !== 'old' && action !== 'del') return {};
  if (a1 === undefined || a2 === undefined) return bad(argv, `${action}: expected MAC IP [HOSTNAME]`);
  // IPv6 leases pass a DUID and an IPv6 address: not ours
  if (a2.includes(':')) return {};
  const ip = normalizeIPv4(a2);
  if (!ip) return bad(argv, `${action}: ${JSON.stringify(printable(a2, 60))} is not an IPv4 address`);
  const mac = normalizeMac(a1);
  if (!mac) return bad(argv, `${action}: ${JSON.stringify(printable(a1, 60))} is not an Ethernet MAC (non-Ethernet hardware is not provisioned)`);
  if (action === 'del') {
    return { event: { kind: 'gone', mac, ip, source: HOOK_SOURCE, sourceType: 'hook', time: now, reason: 'dhcp-script del' } };
  }
  const e: ClientSeen = { kind: 'seen', mac, ip, source: HOOK_SOURCE, sourceType: 'hook', time: now };
  const hostname = normalizeHostname(a3) ?? normalizeHostname(env.DNSMASQ_SUPPLIED_HOSTNAME);
  if (hostname) e.hostname = hostname;
  const vc = env.DNSMASQ_VENDOR_CLASS;
  if (vc) {
    e.vendorClass = printable(vc, 255);
    const arch = archFromVendorClass(vc);
    if (arch !== undefined) e.arch = arch;
  }
  const exp = env.DNSMASQ_LEASE_EXPIRES;
  if (exp !== undefined && /^\d{1,12}$/.test(exp)) e.expires = Number(exp) * 1000;
  const tags = env.DNSMASQ_TAGS?.split(/\s+/).filter((t) => /^[A-Za-z0-9_.:-]{1,64}$/.test(t));
  if (tags?.length) e.tags = tags;
  const cid = env.DNSMASQ_CLIENT_ID;
  if (cid && /^[0-9a-f]{2}(:[0-9a-f]{2}){0,254}$/i.test(cid)) e.clientId = cid.toLowerCase();
  return { event: e };
}
