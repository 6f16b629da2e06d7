// dnsmasq rewrites its whole lease file after nearly every ACK, but usually only one line changes
// (a new lease goes to the top, a renewal edits one expiry). This finds the unchanged prefix and
// suffix of the new text against the last one (native string compares, no parsing) and parses only
// the lines in between, so a rewrite of a 100,000-line file costs a few ms, not a full parse.
// Cross-checked against parseDnsmasqLeases by a fuzz test.
import type { BadInput } from '../../src/types.ts';
import type { Lease, LeaseUpdate } from './lease.ts';
import { diffLeases, sameLease } from './lease.ts';
import { parseDnsmasqLine } from './dnsmasq-parser.ts';
import { closeBad, detachLease } from './parse-util.ts';

/** The last text, where each of its lines starts, the lease each line gave, and the lease map. */
export interface DnsmasqState {
  text: string;
  /** line start offsets; starts[lines] === text.length */
  starts: number[];
  /** lease of each line (undefined: blank, bad, `duid` or DHCPv6) */
  lineLeases: Array<Lease | undefined>;
  /** some IP is on more than one line (never written by dnsmasq): updates take the full-parse path */
  dups: boolean;
  leases: Map<string, Lease>;
}

/** Full parse into a fresh state (the first read, or a text with an IP on two lines). */
export function buildDnsmasqState(text: string, source: string, bad: BadInput[]): DnsmasqState {
  const starts: number[] = [];
  const lineLeases: Array<Lease | undefined> = [];
  const leases = new Map<string, Lease>();
  let dups = false;
  let pos = 0;
  while (pos < text.length) {
    let eol = text.indexOf('\n', pos);
    if (eol < 0) eol = text.length;
    starts.push(pos);
    const l = parseDnsmasqLine(text, pos, eol, starts.length, source, bad);
    if (l) {
      if (leases.has(l.ip)) dups = true;
      leases.set(l.ip, l);
    }
    lineLeases.push(l);
    pos = eol + 1;
  }
  starts.push(text.length);
  closeBad(bad, source);
  return { text, starts, lineLeases, dups, leases };
}

// Equality of two substrings is a native memcmp, much faster than startsWith over a whole lease
// file (docs/performance.md): compare big chunks, then narrow down to the first differing char.
const CHUNKS = [1 << 16, 1 << 12, 1 << 8, 1 << 4];

function commonPrefix(a: string, b: string): number {
  return commonRun(a, 0, b, 0, Math.min(a.length, b.length));
}

function commonSuffix(a: string, b: string, max: number): number {
  let j = 0;
  for (const ch of CHUNKS) while (j + ch <= max && a.substring(a.length - j - ch, a.length - j) === b.substring(b.length - j - ch, b.length - j)) j += ch;
  while (j < max && a.charCodeAt(a.length - 1 - j) === b.charCodeAt(b.length - 1 - j)) j++;
  return j;
}

/** equal chars of a from ia and b from ib, at most max */
function commonRun(a: string, ia: number, b: string, ib: number, max: number): number {
  let i = 0;
  for (const ch of CHUNKS) while (i + ch <= max && a.substring(ia + i, ia + i + ch) === b.substring(ib + i, ib + i + ch)) i += ch;
  while (i < max && a.charCodeAt(ia + i) === b.charCodeAt(ib + i)) i++;
  return i;
}

/** how far to look for the next equal line after a difference inside the changed middle */
const RESYNC_LINES = 16;
/** more separate changes than this in one rewrite: the rest is treated as one changed block */
const MAX_HUNKS = 256;

/** A run of old lines [x, y) kept as is (shifted by `shift`), or old lines [x, y) replaced by new text [ns, ne). */
interface Piece {
  keep: boolean;
  x: number;
  y: number;
  shift: number;
  ns: number;
  ne: number;
}

/**
 * Line-level alignment of old[p, sOld) (lines a..b of `starts`) with text[p, sNew): equal runs found by
 * native compares, and after each difference the next equal line within RESYNC_LINES lines (a line
 * deleted, inserted or replaced). Any alignment is correct (kept lines are byte-identical); a good one
 * keeps the changed part small when a rewrite edits several places (new lease on top, renewal, removal).
 */
function alignMiddle(old: string, starts: number[], text: string, p: number, a: number, b: number, sOld: number, sNew: number): Piece[] {
  const pieces: Piece[] = [];
  let x = a;
  let oo = p;
  let no = p;
  const lineEq = (ox: number, ns: number, ne: number) => {
    const len = starts[ox + 1]! - starts[ox]!;
    return ne - ns === len && old.startsWith(text.substring(ns, ne), starts[ox]!);
  };
  const newEnd = (q: number) => {
    const e = text.indexOf('\n', q);
    return e < 0 || e >= sNew ? sNew : e + 1;
  };
  while (oo < sOld && no < sNew) {
    const max = Math.min(sOld - oo, sNew - no);
    let run = commonRun(old, oo, text, no, max);
    if (run > 0 && !(oo + run === sOld && no + run === sNew)) {
      const k = old.lastIndexOf('\n', oo + run - 1);
      run = k < oo ? 0 : k + 1 - oo;
    }
    if (run > 0) {
      const y = lineAt(starts, oo + run);
      pieces.push({ keep: true, x, y, shift: no - oo, ns: 0, ne: 0 });
      x = y;
      oo += run;
      no += run;
      if (oo >= sOld || no >= sNew) break;
    }
    if (pieces.length >= MAX_HUNKS) break;
    // oo / no start different lines: find the nearest equal line pair
    const nl = [no];
    let found = false;
    for (let d = 1; d <= RESYNC_LINES && !found; d++) {
      const prevNl = nl[d - 1]!;
      if (prevNl < sNew) nl.push(newEnd(prevNl));
      const hasOld = x + d < b;
      const hasNew = nl.length > d && nl[d]! < sNew;
      let dOld = -1;
      let dNew = -1;
      if (hasOld && lineEq(x + d, no, newEnd(no))) [dOld, dNew] = [d, 0];
      else if (hasNew && lineEq(x, nl[d]!, newEnd(nl[d]!))) [dOld, dNew] = [0, d];
      else if (hasOld && hasNew && lineEq(x + d, nl[d]!, newEnd(nl[d]!))) [dOld, dNew] = [d, d];
      if (dOld >= 0) {
        const ne = nl[dNew]!;
        pieces.push({ keep: false, x, y: x + dOld, shift: 0, ns: no, ne });
        x += dOld;
        oo = starts[x]!;
        no = ne;
        found = true;
      }
    }
    if (!found) break;
  }
  if (oo < sOld || no < sNew) pieces.push({ keep: false, x, y: b, shift: 0, ns: no, ne: sNew });
  return pieces;
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
 * Where the unchanged suffix starts in both texts: old[sOld..] === text[sNew..], each a line start (or
 * the end of its text), never before p. Each turn moves sOld forward to the next line start or to the
 * end, so the loop ends after at most as many turns as old has lines, whatever the texts hold (a last
 * line without "\n" included).
 */
function suffixStart(old: string, text: string, p: number): [number, number] {
  const j = commonSuffix(old, text, Math.min(old.length, text.length) - p);
  let sOld = old.length - j;
  let sNew = text.length - j;
  while (sOld < old.length && ((sOld > p && old.charCodeAt(sOld - 1) !== 10) || (sNew > p && text.charCodeAt(sNew - 1) !== 10))) {
    const nl = old.indexOf('\n', sOld);
    sOld = nl < 0 ? old.length : nl + 1;
    sNew = text.length - (old.length - sOld);
  }
  return [sOld, sNew];
}

/**
 * Move `state` to `text` (any text: a last line without "\n" is a line like the others). Returns the
 * updates: active ones for new or changed leases, inactive ("removed") ones for leases whose line went away.
 */
export function updateDnsmasqState(state: DnsmasqState, text: string, source: string, bad: BadInput[]): LeaseUpdate[] {
  const old = state.text;
  if (old === text) return [];
  const i = commonPrefix(old, text);
  const p = i === 0 ? 0 : old.lastIndexOf('\n', i - 1) + 1; // start of the first differing line
  const [sOld, sNew] = suffixStart(old, text, p);
  const a = lineAt(state.starts, p);
  const b = lineAt(state.starts, sOld);
  const pieces = alignMiddle(old, state.starts, text, p, a, b, sOld, sNew);
  // parse the new lines first: an IP that ends up on two lines needs the full parse's "last line wins"
  const added: Array<{ pos: number; lease: Lease | undefined }> = [];
  const lineBad: BadInput[] = [];
  let lineNo = a;
  for (const pc of pieces) {
    if (pc.keep) {
      lineNo += pc.y - pc.x;
      continue;
    }
    let pos = pc.ns;
    while (pos < pc.ne) {
      let eol = text.indexOf('\n', pos);
      if (eol < 0 || eol > pc.ne) eol = pc.ne;
      added.push({ pos, lease: parseDnsmasqLine(text, pos, eol, ++lineNo, source, lineBad) });
      pos = eol + 1;
    }
  }
  if (state.dups || makesDup(state, pieces, added)) {
    const fresh = buildDnsmasqState(text, source, bad);
    const updates = diffStates(state.leases, fresh.leases);
    Object.assign(state, fresh);
    return updates;
  }
  closeBad(lineBad, source);
  for (const x of lineBad) bad.push(x);
  const removed = new Map<string, Lease>();
  for (const pc of pieces) {
    if (pc.keep) continue;
    for (let k = pc.x; k < pc.y; k++) {
      const l = state.lineLeases[k];
      if (l) {
        state.leases.delete(l.ip);
        removed.set(l.ip, l);
      }
    }
  }
  const starts = state.starts.slice(0, a);
  const lineLeases = state.lineLeases.slice(0, a);
  const updates: LeaseUpdate[] = [];
  let next = 0;
  for (const pc of pieces) {
    if (pc.keep) {
      for (let k = pc.x; k < pc.y; k++) {
        starts.push(state.starts[k]! + pc.shift);
        lineLeases.push(state.lineLeases[k]);
      }
      continue;
    }
    while (next < added.length && added[next]!.pos < pc.ne) {
      const { pos, lease: r } = added[next++]!;
      starts.push(pos);
      let l: Lease | undefined;
      if (r) {
        const before = removed.get(r.ip);
        removed.delete(r.ip);
        l = before && sameLease(before, r) ? before : detachLease(r);
        state.leases.set(l.ip, l);
        if (l !== before) updates.push({ ...l, active: true, state: 'active' });
      }
      lineLeases.push(l);
    }
  }
  for (const l of removed.values()) updates.push({ ...l, active: false, state: 'removed' });
  const shift = sNew - sOld;
  const n = state.starts.length;
  for (let k = b; k < n; k++) {
    starts.push(state.starts[k]! + shift);
    if (k < n - 1) lineLeases.push(state.lineLeases[k]);
  }
  state.starts = starts;
  state.lineLeases = lineLeases;
  state.text = text;
  return updates;
}

/** Would the new lines put an IP on two lines? (The state has none on two lines before.) */
function makesDup(state: DnsmasqState, pieces: Piece[], added: Array<{ lease: Lease | undefined }>): boolean {
  const count = new Map<string, number>();
  for (const { lease } of added) if (lease) count.set(lease.ip, (count.get(lease.ip) ?? 0) + 1);
  if (count.size === 0) return false;
  for (const pc of pieces) {
    if (pc.keep) continue;
    for (let k = pc.x; k < pc.y; k++) {
      const l = state.lineLeases[k];
      if (l && count.has(l.ip)) count.set(l.ip, count.get(l.ip)! - 1);
    }
  }
  for (const [ip, c] of count) if (c + (state.leases.has(ip) ? 1 : 0) > 1) return true;
  return false;
}

/** prev -> next as updates: diffLeases (file-order walk), minus the "gone" of an IP that next still has (a new MAC is an update). */
function diffStates(prev: Map<string, Lease>, next: Map<string, Lease>): LeaseUpdate[] {
  const d = diffLeases(prev, next);
  const out: LeaseUpdate[] = [];
  for (const l of d.seen) out.push({ ...l, active: true, state: 'active' });
  for (const l of d.gone) if (!next.has(l.ip)) out.push({ ...l, active: false, state: 'removed' });
  return out;
}
