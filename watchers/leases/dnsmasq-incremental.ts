// dnsmasq rewrites its whole lease file after nearly every ACK, but usually only one line changes
// (a new lease goes to the top, a renewal edits one expiry). This finds the unchanged prefix and
// suffix of the new text against the last one (native string compares, no parsing) and parses only
// the lines in between, so a rewrite of a 100,000-line file costs a few ms, not a full parse.
// Cross-checked against parseDnsmasqLeases by a fuzz test.
import type { BadInput } from '../../src/types.ts';
import type { Lease, LeaseUpdate } from './lease.ts';
import { sameLease } from './lease.ts';
import { DUID_LINE, parseDnsmasqLine } from './dnsmasq-parser.ts';
import { detachLease } from './parse-util.ts';

/** The last text, where each of its lines starts, the lease each line gave, and the lease map. */
export interface DnsmasqState {
  text: string;
  /** line start offsets; starts[lines] === text.length */
  starts: number[];
  /** lease of each line (undefined: blank, bad, or in the DHCPv6 section) */
  lineLeases: Array<Lease | undefined>;
  /** offset of the `duid` line, or -1 */
  duidAt: number;
  leases: Map<string, Lease>;
}

/** Full parse into a fresh state (the first read, or when the DHCPv6 marker moved). */
export function buildDnsmasqState(text: string, source: string, bad: BadInput[]): DnsmasqState {
  const starts: number[] = [];
  const lineLeases: Array<Lease | undefined> = [];
  const leases = new Map<string, Lease>();
  let duidAt = -1;
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    starts.push(pos);
    let l: Lease | undefined;
    if (duidAt < 0) {
      const r = parseDnsmasqLine(text, pos, eol, starts.length, source, bad);
      if (r === DUID_LINE) duidAt = pos;
      else if (r) {
        l = r;
        leases.set(r.ip, r);
      }
    }
    lineLeases.push(l);
    pos = eol + 1;
  }
  starts.push(text.length);
  return { text, starts, lineLeases, duidAt, leases };
}

function commonPrefix(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  const CH = 8192;
  let i = 0;
  while (i + CH <= n && a.startsWith(b.substring(i, i + CH), i)) i += CH;
  while (i < n && a.charCodeAt(i) === b.charCodeAt(i)) i++;
  return i;
}

function commonSuffix(a: string, b: string, max: number): number {
  const CH = 8192;
  let j = 0;
  while (j + CH <= max && a.startsWith(b.substring(b.length - j - CH, b.length - j), a.length - j - CH)) j += CH;
  while (j < max && a.charCodeAt(a.length - 1 - j) === b.charCodeAt(b.length - 1 - j)) j++;
  return j;
}

/** index of the line starting at `off` (must be a line start) */
function lineAt(starts: number[], off: number): number {
  let lo = 0;
  let hi = starts.length - 1;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (starts[mid]! < off) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

/**
 * Move `state` to `text` (complete lines only: "" or ending in "\n"). Returns the updates: active ones
 * for new or changed leases, inactive ("removed") ones for leases whose line went away.
 */
export function updateDnsmasqState(state: DnsmasqState, text: string, source: string, bad: BadInput[]): LeaseUpdate[] {
  const old = state.text;
  if (old === text) return [];
  const i = commonPrefix(old, text);
  const p = i === 0 ? 0 : old.lastIndexOf('\n', i - 1) + 1; // start of the first differing line
  const j = commonSuffix(old, text, Math.min(old.length, text.length) - p);
  let sOld = old.length - j;
  let sNew = text.length - j;
  // the suffix must start a line in both texts; else its first line belongs to the changed middle
  while ((sOld > p && old.charCodeAt(sOld - 1) !== 10) || (sNew > p && text.charCodeAt(sNew - 1) !== 10)) {
    const nl = old.indexOf('\n', sOld);
    sOld = nl < 0 ? old.length : nl + 1;
    sNew = text.length - (old.length - sOld);
  }
  const duidInMiddle = (state.duidAt >= p && state.duidAt < sOld) || text.slice(p, sNew).includes('duid ');
  if (duidInMiddle) {
    const fresh = buildDnsmasqState(text, source, bad);
    const updates = diffStates(state.leases, fresh.leases);
    Object.assign(state, fresh);
    return updates;
  }
  const a = lineAt(state.starts, p);
  const b = lineAt(state.starts, sOld);
  const removed = new Map<string, Lease>();
  for (let k = a; k < b; k++) {
    const l = state.lineLeases[k];
    if (l && state.leases.get(l.ip) === l) {
      state.leases.delete(l.ip);
      removed.set(l.ip, l);
    }
  }
  const starts: number[] = [];
  const lineLeases: Array<Lease | undefined> = [];
  const updates: LeaseUpdate[] = [];
  const v6 = state.duidAt >= 0 && state.duidAt < p;
  let pos = p;
  while (pos < sNew) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0 || eol > sNew) eol = sNew;
    starts.push(pos);
    let l: Lease | undefined;
    if (!v6) {
      const r = parseDnsmasqLine(text, pos, eol, a + starts.length, source, bad);
      if (r && r !== DUID_LINE) {
        const before = removed.get(r.ip) ?? state.leases.get(r.ip);
        removed.delete(r.ip);
        l = before && sameLease(before, r) ? before : detachLease(r);
        state.leases.set(l.ip, l);
        if (l !== before) updates.push({ ...l, active: true, state: 'active' });
      }
    }
    lineLeases.push(l);
    pos = eol + 1;
  }
  for (const l of removed.values()) updates.push({ ...l, active: false, state: 'removed' });
  const shift = sNew - sOld;
  const tailStarts = state.starts.slice(b);
  if (shift !== 0) for (let k = 0; k < tailStarts.length; k++) tailStarts[k]! += shift;
  state.starts = state.starts.slice(0, a).concat(starts, tailStarts);
  state.lineLeases = state.lineLeases.slice(0, a).concat(lineLeases, state.lineLeases.slice(b));
  if (state.duidAt >= sOld) state.duidAt += shift;
  state.text = text;
  return updates;
}

function diffStates(prev: Map<string, Lease>, next: Map<string, Lease>): LeaseUpdate[] {
  const out: LeaseUpdate[] = [];
  for (const [ip, l] of next) {
    const o = prev.get(ip);
    if (!o || !sameLease(o, l)) out.push({ ...l, active: true, state: 'active' });
  }
  for (const [ip, l] of prev) if (!next.has(ip)) out.push({ ...l, active: false, state: 'removed' });
  return out;
}
