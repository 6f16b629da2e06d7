// Pure bookkeeping on node records: what an event changes in a record, the last-boot timeline,
// the rule fingerprint that tells a rule change after a reload, and which node a release names.
import type { ClientGone, ClientSeen, NodeRecord, ResolvedRule, TimelineEntry } from '../types.ts';

/** Timeline entries kept per node (the last boot only). */
export const TIMELINE_MAX = 24;
/** Distinct sources remembered per node. */
export const SOURCES_MAX = 8;

/** A stable fingerprint of everything in a resolved rule that changes what a node gets. */
export function ruleKeyOf(rule: ResolvedRule): string {
  // every node of a subnet gets an equal rule (a fresh object per match): the last key is kept per subnet
  const last = lastKeys.get(rule.subnet);
  if (last && last.cidr === rule.subnet.cidr && last.hostKey === hostKeyOf(rule) && sameRuleFields(last.rule, rule)) return last.key;
  const key = computeRuleKey(rule);
  // a copy: a rule changed in place later is compared field by field, never taken for the same
  lastKeys.set(rule.subnet, { rule: { ...rule, vars: { ...rule.vars } }, key, cidr: rule.subnet.cidr, hostKey: hostKeyOf(rule) });
  return key;
}

/** The last rule fingerprinted per subnet rule object (a copy), its key, and what the key took from its subnet and host. */
const lastKeys = new WeakMap<object, { rule: ResolvedRule; key: string; cidr: string; hostKey: string | undefined }>();

function hostKeyOf(rule: ResolvedRule): string | undefined {
  return rule.host ? (rule.host.mac ?? rule.host.ip ?? rule.host.hostname) : undefined;
}

/** Do `a` and `b` have the same fields (all but `why`; vars entry by entry; subnet and host the same objects)? */
function sameRuleFields(a: ResolvedRule, b: ResolvedRule): boolean {
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  if (ka.length !== kb.length) return false;
  for (const k of kb) {
    if (k === 'why') continue;
    const x = (a as unknown as Record<string, unknown>)[k];
    const y = (b as unknown as Record<string, unknown>)[k];
    if (k === 'vars') {
      if (!sameVars(x as Record<string, unknown>, y as Record<string, unknown>)) return false;
    } else if (x !== y || !Object.hasOwn(a, k)) return false;
  }
  return true;
}

function sameVars(a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  if (a === b) return true;
  const ka = Object.keys(a);
  if (ka.length !== Object.keys(b).length) return false;
  for (const k of ka) if (a[k] !== b[k] || !Object.hasOwn(b, k)) return false;
  return true;
}

function computeRuleKey(rule: ResolvedRule): string {
  const { why: _why, subnet, host, vars, ...rest } = rule;
  // an image rule's root_dir is the node's version (changed at its boot, not by the rule)
  if (rest.image !== undefined) delete (rest as Partial<typeof rest>).root_dir;
  const sortedVars = Object.keys(vars)
    .sort()
    .map((k) => [k, vars[k]]);
  return JSON.stringify({ ...sortKeys(rest), subnet: subnet.cidr, host: host ? (host.mac ?? host.ip ?? host.hostname) : undefined, vars: sortedVars });
}

function sortKeys(o: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(o).sort(([a], [b]) => (a < b ? -1 : 1)));
}

/**
 * Append to the last-boot timeline. A lease renewal must not wipe the boot it belongs to, so a new
 * boot starts only when a TFTP or HTTP file is requested after a DHCP event that itself follows earlier
 * TFTP requests: the timeline then restarts at that DHCP event. A repeat of the last entry only
 * moves its time.
 */
export function extendTimeline(timeline: TimelineEntry[] | undefined, entry: TimelineEntry): TimelineEntry[] {
  let t = timeline ?? [];
  const last = t[t.length - 1];
  if (last && last.what === entry.what && last.source === entry.source) return [...t.slice(0, -1), { ...last, time: entry.time }];
  if (isFileEntry(entry)) {
    let i = t.length - 1;
    while (i >= 0 && isDhcpEntry(t[i]!)) i--;
    const dhcpStart = i + 1;
    if (dhcpStart < t.length && t.slice(0, dhcpStart).some(isFileEntry)) t = t.slice(dhcpStart);
  }
  const next = [...t, entry];
  return next.length > TIMELINE_MAX ? next.slice(next.length - TIMELINE_MAX) : next;
}

function isDhcpEntry(e: TimelineEntry): boolean {
  return e.what.endsWith(' seen') && !isFileEntry(e);
}

/** A file fetch: "tftp FILE" from a TFTP log, "http FILE" from an HTTP access log. */
function isFileEntry(e: TimelineEntry): boolean {
  return e.what.startsWith('tftp ') || e.what.startsWith('http ');
}

/** "<source type> seen", one string per source type (a fixed set), shared by every node's timeline. */
const SEEN_TEXT = new Map<string, string>();

/** How a seen event reads in the timeline. */
export function describeSeen(e: ClientSeen): string {
  if (e.file !== undefined) return `${e.sourceType === 'http-log' ? 'http' : 'tftp'} ${e.file}`;
  if (e.sourceType === 'cli') return 'provision requested';
  let text = SEEN_TEXT.get(e.sourceType);
  if (text === undefined) SEEN_TEXT.set(e.sourceType, (text = `${e.sourceType} seen`));
  return text;
}

/** Remember a source, most recent last, bounded. */
export function addSource(sources: string[], source: string): string[] {
  if (sources[sources.length - 1] === source) return sources;
  const next = [...sources.filter((s) => s !== source), source];
  return next.length > SOURCES_MAX ? next.slice(next.length - SOURCES_MAX) : next;
}

/** The record after a seen event for a matched client (fsid untouched: the job allocates it). */
export function applySeen(
  prev: NodeRecord | undefined,
  e: ClientSeen,
  c: { name: string; ip: string; mac?: string; hostname?: string; subnet: string },
): NodeRecord {
  const base: NodeRecord = prev ?? { name: c.name, ip: c.ip, subnet: c.subnet, state: 'pending', fsid: 0, lastSeen: 0, sources: [] };
  const rec: NodeRecord = {
    ...base,
    ip: c.ip,
    subnet: c.subnet,
    lastSeen: Math.max(base.lastSeen, e.time),
    sources: addSource(base.sources, e.source),
    timeline: extendTimeline(base.timeline, { time: e.time, what: describeSeen(e), source: e.source }),
  };
  if (c.mac) rec.mac = c.mac;
  if (c.hostname) rec.hostname = c.hostname;
  if (e.arch !== undefined) rec.arch = e.arch;
  if (e.uuid !== undefined) rec.uuid = e.uuid;
  return rec;
}

/**
 * Does this event need a provision run? Yes for a new node, a node that moved (IP, MAC, hostname)
 * or whose rule changed since it became ready, and an unfinished node with no work in the queue.
 * A repeat sighting of a node whose job is queued, running or backing off after a failure adds
 * nothing: it must not defeat the backoff or make a storm provision every node twice.
 * `ruleKey` may be a function: it is then called only when the answer depends on it.
 */
export function needsProvision(prev: NodeRecord | undefined, next: NodeRecord, ruleKey: string | (() => string), busy: boolean): boolean {
  if (!prev) return true;
  if (prev.ip !== next.ip || prev.mac !== next.mac || prev.hostname !== next.hostname) return true;
  // the key is computed (a JSON string of the rule) only here, where it is compared
  // a node in a boot-once profile or in quarantine has its files like a ready one
  if (prev.state === 'ready' || prev.state === 'verifying' || prev.state === 'quarantined') return prev.ruleKey !== (typeof ruleKey === 'function' ? ruleKey() : ruleKey);
  return !busy;
}

/** Count nodes per state, for the metrics gauge. */
export function countStates(nodes: Iterable<NodeRecord>): Record<NodeRecord['state'], number> {
  const c = { pending: 0, ready: 0, failed: 0, released: 0, verifying: 0, quarantined: 0 };
  for (const n of nodes) c[n.state]++;
  return c;
}

/** The node a gone event names, or why none: `rec` only when it matches every identifier given. */
export type ReleaseMatch =
  | { rec: NodeRecord; why?: undefined; named?: undefined }
  /** `named`: a node one identifier of the event names while another does not match it */
  | { rec?: undefined; why: string; named?: NodeRecord };

/**
 * Find the node a gone event is about. The IP decides when the event has one (a release of an IP
 * no node holds names no node, whatever its MAC), else the MAC; then every identifier the event
 * carries must equal the record's: a release that names a node's MAC with another IP, or its IP
 * with another MAC (or a MAC the record does not know), releases nothing.
 */
export function matchRelease(e: Pick<ClientGone, 'ip' | 'mac'>, find: { findByIp(ip: string): NodeRecord | undefined; findByMac(mac: string): NodeRecord | undefined }): ReleaseMatch {
  const rec = e.ip !== undefined ? find.findByIp(e.ip) : e.mac !== undefined ? find.findByMac(e.mac) : undefined;
  if (!rec) {
    const other = e.ip !== undefined && e.mac !== undefined ? find.findByMac(e.mac) : undefined;
    if (other) return { why: `${e.mac} belongs to node ${other.name} at ${other.ip}, not ${e.ip}`, named: other };
    return { why: 'no node known for this client' };
  }
  if (e.ip !== undefined && rec.ip !== e.ip) return { why: `node ${rec.name} is at ${rec.ip}, not ${e.ip}`, named: rec };
  if (e.mac !== undefined && rec.mac !== e.mac) return { why: `${rec.ip} belongs to ${rec.mac ?? 'a node whose MAC is not known'}, not ${e.mac}`, named: rec };
  return { rec };
}
